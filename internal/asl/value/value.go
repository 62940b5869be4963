// Package value is the JSON data model of the States Language engine: the values that flow between states.
//
// A value is one of nil (JSON null), bool, string, Number, []any (array) or *Object. Objects keep their members
// in document order, because Step Functions does: States.JsonToString, States.Format and the events of a history
// print members in the order the data had them. Values are immutable once built: the engine shares them between
// states, branches and history events instead of copying, and every update (ResultPath, JsonMerge) builds a new
// spine (see Object.With). Numbers keep the text they were written with, so 1.0 stays 1.0 and a 20-digit id is
// not rounded through float64.
package value

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Number is a JSON number, kept as the text it was written or produced with.
type Number string

// Float64 returns the number as a float64.
func (n Number) Float64() (float64, error) { return strconv.ParseFloat(string(n), 64) }

// Int64 returns the number as an int64 when it is integral (1, 1.0, 1e2) and fits.
func (n Number) Int64() (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// IsIntegerText reports whether the number is written without fraction or exponent (Java's "long" literal).
func (n Number) IsIntegerText() bool { return !strings.ContainsAny(string(n), ".eE") }

// Int returns the Number for i.
func Int(i int64) Number { return Number(strconv.FormatInt(i, 10)) }

// smallInts holds small integers already boxed in an interface: storing a Number in an any allocates, and
// indexes and counts are mostly small.
var smallInts = func() (t [1024]any) {
	for i := range t {
		t[i] = Int(int64(i))
	}
	return t
}()

// IntValue returns i as a value (an any holding a Number), without allocating for small i.
func IntValue(i int64) any {
	if i >= 0 && i < int64(len(smallInts)) {
		return smallInts[i]
	}
	return Int(i)
}

// Float returns the Number for f, printed the shortest way that reads back as f.
func Float(f float64) Number {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// Object is a JSON object whose members keep their order. The zero value and nil are empty objects.
type Object struct {
	members []member
	index   map[string]int // set once the object is large enough for a linear scan to cost more than a map
}

type member struct {
	key string
	val any
}

// indexThreshold is the member count from which Set maintains a map index.
const indexThreshold = 12

// smallObject lets NewObject allocate a small object and its members at once.
type smallObject struct {
	o   Object
	buf [2]member
}

// NewObject returns an empty object with room for n members.
func NewObject(n int) *Object {
	if n <= 2 {
		s := &smallObject{}
		s.o.members = s.buf[:0]
		return &s.o
	}
	return &Object{members: make([]member, 0, n)}
}

// Len returns the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.members)
}

// Key returns the name of member i.
func (o *Object) Key(i int) string { return o.members[i].key }

// At returns the value of member i.
func (o *Object) At(i int) any { return o.members[i].val }

// Keys returns the member names in order.
func (o *Object) Keys() []string {
	keys := make([]string, o.Len())
	for i := range keys {
		keys[i] = o.members[i].key
	}
	return keys
}

func (o *Object) find(k string) int {
	if o == nil {
		return -1
	}
	if o.index != nil {
		if i, ok := o.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range o.members {
		if o.members[i].key == k {
			return i
		}
	}
	return -1
}

// Get returns the value of member k.
func (o *Object) Get(k string) (any, bool) {
	i := o.find(k)
	if i < 0 {
		return nil, false
	}
	return o.members[i].val, true
}

// Has reports whether the object has member k.
func (o *Object) Has(k string) bool { return o.find(k) >= 0 }

// Set sets member k, replacing its value in place or appending it. Only for objects still being built: a value
// already handed to the engine is shared and must not change (use With).
func (o *Object) Set(k string, v any) {
	if i := o.find(k); i >= 0 {
		o.members[i].val = v
		return
	}
	o.members = append(o.members, member{key: k, val: v})
	switch {
	case o.index != nil:
		o.index[k] = len(o.members) - 1
	case len(o.members) >= indexThreshold:
		o.buildIndex()
	}
}

func (o *Object) buildIndex() {
	o.index = make(map[string]int, len(o.members)*2)
	for i := range o.members {
		o.index[o.members[i].key] = i
	}
}

// With returns a copy of the object with member k set to v (replaced in place, or appended).
func (o *Object) With(k string, v any) *Object {
	c := o.clone(1)
	c.Set(k, v)
	return c
}

// Clone returns a shallow copy that may be modified with Set.
func (o *Object) Clone() *Object { return o.clone(0) }

func (o *Object) clone(extra int) *Object {
	n := o.Len()
	c := NewObject(n + extra)
	c.members = append(c.members, o.members[:n]...)
	if n >= indexThreshold {
		c.buildIndex()
	}
	return c
}

// Kind names the JSON type of v as Step Functions messages do: null, boolean, number, string, array, object.
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case *Object:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Valid reports whether v is built only of the types of this package (a guard for values from outside).
func Valid(v any) bool {
	switch t := v.(type) {
	case nil, bool, string, Number:
		return true
	case []any:
		for _, e := range t {
			if !Valid(e) {
				return false
			}
		}
		return true
	case *Object:
		for i := 0; i < t.Len(); i++ {
			if !Valid(t.members[i].val) {
				return false
			}
		}
		return true
	default:
		return false
	}
}
