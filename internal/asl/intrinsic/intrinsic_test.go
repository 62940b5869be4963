package intrinsic

import (
	"errors"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/asl/jsonpath"
	"github.com/cpwarden/cpwarden/internal/asl/value"
)

// env resolves $ paths against a document and draws "random" words from a counter.
type env struct {
	doc any
	n   uint64
}

func (e *env) Path(p *jsonpath.Path) (any, error) { return p.Eval(e.doc) }
func (e *env) Uint64() uint64                     { e.n += 0x9e3779b97f4a7c15; return e.n }

const input = `{"s":"input data","arr":[1,2,2,3,3,4,"a",{"k":1},{"k":1}],"obj":{"Arg1":1,"Arg2":[]},"n":3,"f":-1.5,"json":"{\"a\":1}",
	"csv":"a,b,,c","empty":[],"nested":{"x":{"y":"z"}},"b64":"RGF0YSB0byBlbmNvZGU="}`

func eval(t *testing.T, call string) (any, error) {
	t.Helper()
	doc, err := value.ParseString(input)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(call)
	if err != nil {
		t.Fatalf("Parse(%q): %v", call, err)
	}
	return c.Eval(&env{doc: doc})
}

func TestFunctions(t *testing.T) {
	tests := []struct{ call, want string }{
		{`States.Format('Hello, {}!', $.s)`, `"Hello, input data!"`},
		{`States.Format('{} and {} and {} and {}', $.n, $.f, $.obj, $.arr)`, `"3 and -1.5 and {Arg1=1, Arg2=[]} and [1, 2, 2, 3, 3, 4, a, {k=1}, {k=1}]"`},
		{`States.Format('braces \{\} and a quote \' and a backslash \\ {}', 'x')`, `"braces {} and a quote ' and a backslash \\ x"`},
		{`States.Format('no placeholders')`, `"no placeholders"`},
		{`States.Format('{}', null)`, `"null"`},
		{`States.StringToJson($.json)`, `{"a":1}`},
		{`States.StringToJson(' ')`, `null`},
		{`States.StringToJson('[1, 2]')`, `[1,2]`},
		{`States.JsonToString($.obj)`, `"{\"Arg1\":1,\"Arg2\":[]}"`},
		{`States.JsonToString('x')`, `"\"x\""`},
		{`States.Array(1, 'two', $.n, States.Array())`, `[1,"two",3,[]]`},
		{`States.ArrayPartition($.arr, 4)`, `[[1,2,2,3],[3,4,"a",{"k":1}],[{"k":1}]]`},
		{`States.ArrayPartition($.empty, 2)`, `[]`},
		{`States.ArrayContains($.arr, $.obj.Arg1)`, `true`},
		{`States.ArrayContains($.arr, 'b')`, `false`},
		{`States.ArrayContains($.arr, States.StringToJson('{"k":1}'))`, `true`},
		{`States.ArrayRange(1, 9, 2)`, `[1,3,5,7,9]`},
		{`States.ArrayRange(0, 9, 3)`, `[0,3,6,9]`},
		{`States.ArrayRange(5, 1, -2)`, `[5,3,1]`},
		{`States.ArrayGetItem($.arr, 7)`, `{"k":1}`},
		{`States.ArrayLength($.arr)`, `9`},
		{`States.ArrayUnique($.arr)`, `[1,2,3,4,"a",{"k":1}]`},
		{`States.Base64Encode('Data to encode')`, `"RGF0YSB0byBlbmNvZGU="`},
		{`States.Base64Decode($.b64)`, `"Data to encode"`},
		{`States.Hash($.s, 'MD5')`, `"812f45842bc6d66ee14572ce20db8e86"`},
		{`States.Hash($.s, 'SHA-1')`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`},
		{`States.Hash($.s, 'SHA-256')`, `"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"`},
		{`States.Hash($.s, 'SHA-384')`, `"d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"`},
		{`States.Hash($.s, 'SHA-512')`, `"6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"`},
		{`States.JsonMerge($.obj, States.StringToJson('{"Arg2":"x","Arg3":true}'), false)`, `{"Arg1":1,"Arg2":"x","Arg3":true}`},
		{`States.MathAdd($.f, 0)`, `-1`},
		{`States.MathAdd(1.5, 1.51)`, `4`},
		{`States.MathAdd(-2.5, $.n)`, `1`},
		{`States.MathRandom(0, 1000, 42)`, `130`},
		{`States.MathRandom(100, 1099, 7)`, `1070`},
		{`States.MathAdd(0.49999999999999994, 0)`, `0`},
		{`States.StringSplit($.csv, ',')`, `["a","b","c"]`},
		{`States.StringSplit('a-b+c', '+-')`, `["a","b","c"]`},
		{`States.ArrayGetItem(States.StringSplit($.nested.x.y, ','), 0)`, `"z"`},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			got, err := eval(t, tt.call)
			if err != nil {
				t.Fatal(err)
			}
			if value.String(got) != tt.want {
				t.Fatalf("got %s, want %s", value.String(got), tt.want)
			}
		})
	}
}

func TestMathRandomWithASeedIsJavaRandom(t *testing.T) {
	// Values printed by a JDK: new java.util.Random(seed).nextInt(bound).
	r := newJavaRandom(42)
	if got := r.nextInt(1000); got != 130 {
		t.Fatalf("new Random(42).nextInt(1000) = %d, want 130", got)
	}
	r = newJavaRandom(42)
	if got := r.nextInt(16); got != 11 {
		t.Fatalf("new Random(42).nextInt(16) = %d, want 11", got)
	}
	r = newJavaRandom(1)
	if got := r.nextInt(100); got != 85 {
		t.Fatalf("new Random(1).nextInt(100) = %d, want 85", got)
	}
}

func TestUUIDAndMathRandomUseTheEnvironment(t *testing.T) {
	a, err := eval(t, `States.UUID()`)
	if err != nil {
		t.Fatal(err)
	}
	s := a.(string)
	if len(s) != 36 || s[14] != '4' || strings.IndexByte("89ab", s[19]) < 0 {
		t.Fatalf("not a version 4 UUID: %s", s)
	}
	r, err := eval(t, `States.MathRandom(10, 20)`)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := r.(value.Number).Int64()
	if n < 10 || n >= 20 {
		t.Fatalf("MathRandom(10, 20) = %d", n)
	}
}

func TestEvaluationErrors(t *testing.T) {
	tests := []struct{ call, msg string }{
		{`States.Format('{} {}', 1)`, `The number of arguments (1) does not match the number of placeholders (2)`},
		{`States.StringToJson($.n)`, `The argument must be a string, but was number`},
		{`States.StringToJson('{')`, `The argument is not valid JSON`},
		{`States.ArrayPartition($.arr, 0)`, `The chunk size must be a positive integer`},
		{`States.ArrayRange(1, 2, 0)`, `The step must not be 0`},
		{`States.ArrayRange(0, 5000, 1)`, `The array cannot contain more than 1000 items`},
		{`States.ArrayGetItem($.arr, 99)`, `The index 99 is out of bounds for an array of length 9`},
		{`States.ArrayLength($.s)`, `The argument must be an array, but was string`},
		{`States.Base64Decode('!!')`, `The input is not valid base64`},
		{`States.Hash($.s, 'CRC32')`, `The hash algorithm "CRC32" is not supported`},
		{`States.JsonMerge($.obj, $.obj, true)`, `Deep merge is not supported`},
		{`States.MathRandom(5, 5)`, `The end (5) must be greater than the start (5)`},
		{`States.MathAdd('1', 2)`, `The arguments must be numbers`},
		{`States.StringSplit($.arr, ',')`, `The arguments must be strings`},
	}
	for _, tt := range tests {
		_, err := eval(t, tt.call)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.msg) || e.Call != tt.call {
			t.Errorf("%s: got %v, want an *Error with %q", tt.call, err, tt.msg)
		}
	}
	_, err := eval(t, `States.Format('{}', $.missing)`)
	var nf *jsonpath.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("a missing path argument: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{`States.Nope()`, `States.Format`, `States.Format(`, `States.Format('a'`, `States.Format('a',)`,
		`States.UUID(1)`, `States.Hash('a')`, `States.Array(1 2)`, `States.Format('unterminated)`, `States.Array(x)`, `States.Array($.a[)`,
		`States.UUID() trailing`} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if _, err := Parse(strings.Repeat("States.Array(", 500) + strings.Repeat(")", 500)); err == nil {
		t.Error("calls nested 500 deep accepted")
	}
	if !IsCall(" States.UUID()") || IsCall("$.States") {
		t.Error("IsCall")
	}
}

// FuzzParse checks that the parser never panics and that what it accepts evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`States.Format('a {} b \{\}', $.x)`, `States.Array(1, -2.5, 'x', true, null, $$.Execution.Id, States.UUID())`,
		`States.JsonMerge($.a, States.StringToJson('{"b":1}'), false)`, `States.ArrayRange(0, 10, 3)`, `States.Hash($.x, 'SHA-256')`,
		`States.StringSplit($.x, ', ')`, `States.MathRandom(1, 999, 7)`, `States.Format('{}', $.a[?(@.b == 'x')])`} {
		f.Add(s)
	}
	doc, _ := value.ParseString(`{"x":"1,2","a":{"b":[1,2]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T", s, err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("String() = %q for %q", c.String(), s)
		}
		v, err := c.Eval(&env{doc: doc})
		if err == nil && !value.Valid(v) {
			t.Fatalf("%q gave a value outside the model: %#v", s, v)
		}
	})
}
