package value

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAndAppendRoundTrip(t *testing.T) {
	tests := []struct{ in, out string }{
		{`null`, `null`},
		{` true `, `true`},
		{`{"b":1,"a":[1.0,-2e3,0.5],"c":{"x":"y"}}`, `{"b":1,"a":[1.0,-2e3,0.5],"c":{"x":"y"}}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`"\u00e9\n\t\"\\\/<&>"`, `"é\n\t\"\\/<&>"`},
		{`"\ud83d\ude00"`, `"😀"`},
		{`"\ud83d x"`, `"� x"`},
		{"\"\x01\"", ``},
		{`12345678901234567890123`, `12345678901234567890123`},
		{`[]`, `[]`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		v, err := ParseString(tt.in)
		if tt.out == "" {
			if err == nil {
				t.Errorf("Parse(%q) accepted invalid JSON", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := String(v); got != tt.out {
			t.Errorf("Parse(%q) then String = %s, want %s", tt.in, got, tt.out)
		}
	}
}

func TestParseRejectsWhatEncodingJSONRejects(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,]`, `{"a"}`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `tru`, `nul`, `"abc`, `[1] [2]`, `{1:2}`, `"\x"`, `"\u12"`, `+1`, `1e`, `NaN`} {
		if _, err := ParseString(in); err == nil {
			t.Errorf("Parse(%q) accepted invalid JSON", in)
		}
		var v any
		if json.Unmarshal([]byte(in), &v) == nil {
			t.Errorf("encoding/json accepts %q: the test is wrong", in)
		}
	}
}

func TestObjectKeepsOrderAndIsCopiedOnWrite(t *testing.T) {
	o := NewObject(0)
	for _, k := range []string{"z", "a", "m"} {
		o.Set(k, k)
	}
	p := o.With("a", "changed").With("new", 1)
	if String(o) != `{"z":"z","a":"a","m":"m"}` || String(p) != `{"z":"z","a":"changed","m":"m","new":1}` {
		t.Fatalf("o %s p %s", String(o), String(p))
	}
	big := NewObject(0)
	for i := 0; i < 100; i++ {
		big.Set(string(rune('A'+i%26))+strings.Repeat("x", i/26), IntValue(int64(i)))
	}
	if v, ok := big.Get("Cxx"); !ok || String(v) != "54" {
		t.Fatalf("indexed lookup: %v %v", v, ok)
	}
	if c := big.Clone(); !Equal(c, big) || c.Len() != 100 {
		t.Fatal("clone differs")
	}
}

func TestEqualComparesNumbersByValueAndMembersByName(t *testing.T) {
	a, _ := ParseString(`{"x":[1,2.0,{"y":null}],"b":true}`)
	b, _ := ParseString(`{"b":true,"x":[1.0,2,{"y":null}]}`)
	c, _ := ParseString(`{"b":true,"x":[1.0,2,{"y":0}]}`)
	if !Equal(a, b) || Equal(a, c) {
		t.Fatal("Equal")
	}
}

func TestNumbers(t *testing.T) {
	if i, ok := Number("1e2").Int64(); !ok || i != 100 {
		t.Fatal("1e2")
	}
	if _, ok := Number("1.5").Int64(); ok {
		t.Fatal("1.5 is not an integer")
	}
	if Float(2) != "2" || Float(0.1) != "0.1" || Float(1e21) != "1e+21" {
		t.Fatal("Float")
	}
	if IntValue(3) != any(Number("3")) || IntValue(-1) != any(Number("-1")) {
		t.Fatal("IntValue")
	}
}

func TestFromGo(t *testing.T) {
	v, err := FromGo(map[string]any{"b": []int{1, 2}, "a": "<x>"})
	if err != nil || String(v) != `{"a":"<x>","b":[1,2]}` {
		t.Fatalf("%s %v", String(v), err)
	}
	raw, err := FromGo(json.RawMessage(`{"z":1,"a":2}`))
	if err != nil || String(raw) != `{"z":1,"a":2}` {
		t.Fatalf("%s %v", String(raw), err)
	}
}

// FuzzParse checks the parser against encoding/json: they accept the same documents, and what the parser
// reads, written back, means what encoding/json reads.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[1e10,-0.5,true,false]`, `1E1000`, `"\ud800"`, `{"a":1,"a":2}`, "\"\xff\"", `  {}  `, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if (err == nil) != json.Valid(data) {
			t.Fatalf("Parse error %v, but json.Valid says %v, for %q", err, json.Valid(data), data)
		}
		if err != nil {
			return
		}
		out := Marshal(v)
		decode := func(b []byte) any {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var x any
			if err := d.Decode(&x); err != nil {
				t.Fatalf("encoding/json cannot read %q: %v", b, err)
			}
			return x
		}
		std, back := decode(data), decode(out)
		a, _ := json.Marshal(std)
		b, _ := json.Marshal(back)
		if !bytes.Equal(a, b) {
			t.Fatalf("meaning changed: %s vs %s for %q", a, b, data)
		}
		v2, err := Parse(out)
		if err != nil || !Equal(v, v2) || !bytes.Equal(Marshal(v2), out) {
			t.Fatalf("not stable: %q -> %q", data, out)
		}
	})
}
