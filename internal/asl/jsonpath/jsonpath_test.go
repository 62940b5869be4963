package jsonpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/cpwarden/cpwarden/internal/asl/value"
)

const doc = `{"store":{"book":[{"title":"A","price":8,"tags":["x"]},{"title":"B","price":12},{"title":"C","price":20,"isbn":"1"}],
	"bicycle":{"color":"red","price":19}},"items":[0,1,2,3,4,5],"key with space":1,"delivery-partner":"UQS","n":null}`

func evalDoc(t *testing.T, path string) (any, error) {
	t.Helper()
	root, err := value.ParseString(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(path)
	if err != nil {
		t.Fatalf("Parse(%q): %v", path, err)
	}
	return p.Eval(root)
}

func TestEval(t *testing.T) {
	tests := []struct{ path, want string }{
		{`$`, ``},
		{`$.store.bicycle.color`, `"red"`},
		{`$['store']['bicycle']["color"]`, `"red"`},
		{`$.delivery-partner`, `"UQS"`},
		{`$['key with space']`, `1`},
		{`$.store.book[0].title`, `"A"`},
		{`$.store.book[-1].title`, `"C"`},
		{`$.n`, `null`},
		{`$.store.book[*].title`, `["A","B","C"]`},
		{`$.store.book[1:].title`, `["B","C"]`},
		{`$.items[:2]`, `[0,1]`},
		{`$.items[1:5:2]`, `[1,3]`},
		{`$.items[-2:]`, `[4,5]`},
		{`$.items[::-1]`, `[5,4,3,2,1,0]`},
		{`$.items[0,3]`, `[0,3]`},
		{`$.store.*.color`, `["red"]`},
		{`$..price`, `[8,12,20,19]`},
		{`$..book[0].title`, `["A"]`},
		{`$.store.book[?(@.price < 10)].title`, `["A"]`},
		{`$.store.book[?(@.price >= 12 && @.title != 'C')].title`, `["B"]`},
		{`$.store.book[?(@.isbn)].title`, `["C"]`},
		{`$.store.book[?(!(@.price > 10))].title`, `["A"]`},
		{`$.store.book[?(@.title =~ /[AB]/)].price`, `[8,12]`},
		{`$.store.book[?(@.title in ['A','C'])].price`, `[8,20]`},
		{`$.store.book[?(@.price > $.store.bicycle.price)].title`, `["C"]`},
		{`$.store.book[?(@.tags contains 'x')].title`, `["A"]`},
		{`$.store.book.length()`, `3`},
		{`$['store']['bicycle','x']`, `[{"bicycle":{"color":"red","price":19}}]`},
		{`$.missing[*]`, `[]`},
		{`$.missing[1:].x`, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := evalDoc(t, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = value.String(mustParse(t, doc))
			}
			if value.String(got) != want {
				t.Fatalf("got %s, want %s", value.String(got), want)
			}
		})
	}
}

func mustParse(t *testing.T, s string) any {
	v, err := value.ParseString(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDefinitePathsFailWithJaywayMessages(t *testing.T) {
	tests := []struct{ path, msg string }{
		{`$.nope`, `No results for path: $['nope']`},
		{`$.no.such.path`, `Missing property in path $['no']`},
		{`$.store.nope`, `No results for path: $['store']['nope']`},
		{`$.store.book[7]`, `Index out of bounds when evaluating path $['store']['book'][7]`},
		{`$.store.bicycle.color.x`, `Expected to find an object with property ['x'] in path $['store']['bicycle']['color'] but found 'string'. This is not a json object.`},
	}
	for _, tt := range tests {
		_, err := evalDoc(t, tt.path)
		var nf *NotFoundError
		if !errors.As(err, &nf) || nf.Message != tt.msg || nf.Path != tt.path {
			t.Errorf("%s: got %v, want %q", tt.path, err, tt.msg)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{``, `a.b`, `$.`, `$[`, `$['a'`, `$[1:2:3:4]`, `$.a[?(@.b ==]`, `$.a[?@.b]`, `$..`, `$.a b`, `$.length().x`, `$[?(@.a =~ /[/)]`} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestRootsAndKinds(t *testing.T) {
	tests := []struct {
		path      string
		root      Root
		variable  string
		definite  bool
		reference bool
	}{
		{`$`, RootInput, "", true, true},
		{`$.a[0].b`, RootInput, "", true, true},
		{`$$.Execution.Id`, RootContext, "", true, true},
		{`$myVar.x`, RootVariable, "myVar", true, true},
		{`$.a[*]`, RootInput, "", false, false},
		{`$.a.length()`, RootInput, "", true, false},
	}
	for _, tt := range tests {
		p, err := Parse(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if p.Root() != tt.root || p.Variable() != tt.variable || p.IsDefinite() != tt.definite || p.IsReference() != tt.reference || p.String() != tt.path {
			t.Errorf("%s: root %v var %q definite %v reference %v", tt.path, p.Root(), p.Variable(), p.IsDefinite(), p.IsReference())
		}
	}
}

func TestSet(t *testing.T) {
	tests := []struct{ doc, path, v, want, err string }{
		{`{"a":1}`, `$.b`, `2`, `{"a":1,"b":2}`, ""},
		{`{"a":1}`, `$.a`, `2`, `{"a":2}`, ""},
		{`{"a":1}`, `$.x.y.z`, `true`, `{"a":1,"x":{"y":{"z":true}}}`, ""},
		{`{"a":[1,2]}`, `$.a[1]`, `9`, `{"a":[1,9]}`, ""},
		{`{"a":{"b":1}}`, `$['a']['c']`, `2`, `{"a":{"b":1,"c":2}}`, ""},
		{`{"a":"s"}`, `$.a.b`, `1`, ``, `Unable to apply ResultPath "$.a.b": the value at 'b' is a string, not an object`},
		{`{"a":[1]}`, `$.a[3]`, `1`, ``, `Unable to apply ResultPath "$.a[3]": index [3] is not in an array of the input`},
		{`"str"`, `$.a`, `1`, ``, `Unable to apply ResultPath "$.a": the value at 'a' is a string, not an object`},
		{`{"a":1}`, `$.a[*]`, `1`, ``, `$.a[*] is not a reference path`},
	}
	for _, tt := range tests {
		d := mustParse(t, tt.doc)
		p, err := Parse(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Set(d, mustParse(t, tt.v))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Set(%s, %s): err %v, want %q", tt.doc, tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || value.String(got) != tt.want {
			t.Errorf("Set(%s, %s) = %s %v, want %s", tt.doc, tt.path, value.String(got), err, tt.want)
		}
		if value.String(d) != value.String(mustParse(t, tt.doc)) {
			t.Errorf("Set modified its input: %s", value.String(d))
		}
	}
}

// FuzzEval checks that any path, parsed or not, and any document evaluate without panicking; that definite
// paths select a value or fail with a NotFoundError, indefinite ones a list; and that a reference path can be
// written where it can be read.
func FuzzEval(f *testing.F) {
	for _, s := range []string{`$.a`, `$.a[0].b`, `$..b`, `$.a[?(@.b > 1 && @.c)]`, `$['a','b']`, `$.a[-1:]`, `$$.Map.Item.Value`, `$v.x`, `$.a.length()`, `$.a[?(@.x =~ /a.*/i)]`} {
		f.Add(s, `{"a":[{"b":2,"c":true},{"b":0}],"x":"y"}`)
	}
	f.Fuzz(func(t *testing.T, path, document string) {
		p, err := Parse(path)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T", path, err)
			}
			return
		}
		root, err := value.ParseString(document)
		if err != nil {
			return
		}
		v, err := p.Eval(root)
		switch {
		case err != nil:
			var nf *NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("Eval(%q) error %T %v", path, err, err)
			}
		case !p.IsDefinite() && !p.length:
			if _, ok := v.([]any); !ok {
				t.Fatalf("indefinite %q gave %s", path, value.String(v))
			}
		}
		if p.IsReference() && p.Root() == RootInput && err == nil {
			out, serr := p.Set(root, "x")
			if serr != nil {
				t.Fatalf("Set(%q) of a readable path: %v", path, serr)
			}
			back, gerr := p.Eval(out)
			if gerr != nil || back != "x" {
				t.Fatalf("Set then Eval(%q) = %s %v", path, value.String(back), gerr)
			}
		}
	})
}
func TestDeepNestingIsRefused(t *testing.T) {
	deep := "$" + strings.Repeat("[?(@", 5000) + strings.Repeat(")]", 5000)
	if _, err := Parse(deep); err == nil {
		t.Fatal("accepted")
	}
	parens := "$[?(" + strings.Repeat("(", 5000) + "@.a" + strings.Repeat(")", 5000) + ")]"
	if _, err := Parse(parens); err == nil {
		t.Fatal("accepted")
	}
}
