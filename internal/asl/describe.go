package asl

import (
	"fmt"
	"reflect"
	"strings"
)

// The parser, the validator and the writer all work from the model's structs (model.go): each struct field is
// one JSON member, named as the field, in the order the writer emits it, with an asl tag for the rest. This file
// turns those structs into the field lists the three of them walk, once, when the package is loaded, so that a
// state's fields are written down in one place only.

// langSet is the query languages a field is allowed in.
type langSet uint8

const (
	langJSONPath langSet = 1 << iota
	langJSONata
)

func langOf(jsonata bool) langSet {
	if jsonata {
		return langJSONata
	}
	return langJSONPath
}

// fieldKind is how a field is read and written; it follows from the Go type (and, for strings, the tag).
type fieldKind uint8

const (
	kindString fieldKind = iota
	kindPathString
	kindQueryLanguage
	kindBool
	kindPath
	kindNum
	kindInt
	kindFloat
	kindJSON
	kindErrorNames
	kindRetriers
	kindCatchers
	kindRules
	kindRule
	kindBranches
	kindBranch
	kindProcessorConfig
	kindStates
	kindOp
)

// fieldDesc is one field of a model struct.
type fieldDesc struct {
	name  string
	index int
	kind  fieldKind
	lang  langSet
	flags fieldFlag
}

// fieldFlag is a tag option that is a yes or no.
type fieldFlag uint16

const (
	flagRequired   fieldFlag = 1 << iota
	flagAlways               // written even when empty
	flagObject               // a JSON field that must be an object
	flagInteger              // a Num that must be an integer
	flagNullable             // a Path that may be JSON null
	flagProcessor            // only in a Map's item processor
	flagTop                  // only in a top-level choice rule
	flagTimestamp            // a string that is a timestamp
	flagComparison           // only in a choice rule that compares (not in And, Or, Not)
)

var tagFlags = map[string]fieldFlag{"required": flagRequired, "always": flagAlways, "object": flagObject,
	"int": flagInteger, "path": flagNullable, "result": flagNullable, "processor": flagProcessor, "top": flagTop,
	"timestamp": flagTimestamp, "comparison": flagComparison}

func (fd *fieldDesc) is(f fieldFlag) bool { return fd.flags&f != 0 }

// structDesc is a model struct's fields, in writing order.
type structDesc struct {
	fields []fieldDesc
	byName map[string]*fieldDesc
}

var (
	descs = map[reflect.Type]*structDesc{}
	// stateTypes maps a state's Type to its struct.
	stateTypes = map[string]reflect.Type{}
)

func init() {
	for _, s := range []State{&Pass{}, &Task{}, &Choice{}, &Wait{}, &Succeed{}, &Fail{}, &Parallel{}, &Map{}} {
		t := reflect.TypeOf(s).Elem()
		stateTypes[s.StateType()] = t
		descs[t] = describeStruct(t)
	}
	for _, v := range []any{StateMachine{}, Branch{}, ProcessorConfig{}, Retrier{}, Catcher{}, ChoiceRule{}} {
		t := reflect.TypeOf(v)
		descs[t] = describeStruct(t)
	}
}

var kinds = map[reflect.Type]fieldKind{
	reflect.TypeOf(false):                   kindBool,
	reflect.TypeOf((*Path)(nil)):            kindPath,
	reflect.TypeOf((*Num)(nil)):             kindNum,
	reflect.TypeOf((*int)(nil)):             kindInt,
	reflect.TypeOf((*float64)(nil)):         kindFloat,
	reflect.TypeOf((*any)(nil)).Elem():      kindJSON,
	reflect.TypeOf([]string(nil)):           kindErrorNames,
	reflect.TypeOf([]Retrier(nil)):          kindRetriers,
	reflect.TypeOf([]Catcher(nil)):          kindCatchers,
	reflect.TypeOf([]ChoiceRule(nil)):       kindRules,
	reflect.TypeOf((*ChoiceRule)(nil)):      kindRule,
	reflect.TypeOf([]*Branch(nil)):          kindBranches,
	reflect.TypeOf((*Branch)(nil)):          kindBranch,
	reflect.TypeOf((*ProcessorConfig)(nil)): kindProcessorConfig,
	reflect.TypeOf([]State(nil)):            kindStates,
}

func describeStruct(t reflect.Type) *structDesc {
	d := &structDesc{byName: map[string]*fieldDesc{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		fd := fieldDesc{name: sf.Name, index: i, lang: langJSONPath | langJSONata}
		skip := false
		for _, opt := range strings.Split(sf.Tag.Get("asl"), ",") {
			switch opt {
			case "":
			case "-":
				skip = true
			case "jp":
				fd.lang = langJSONPath
			case "ja":
				fd.lang = langJSONata
			case "none":
				fd.lang = 0
			case "ref":
				fd.kind = kindPathString
			case "op":
				fd.kind = kindOp
			default:
				f, ok := tagFlags[opt]
				if !ok {
					panic(fmt.Sprintf("asl: %s.%s: unknown tag option %q", t.Name(), sf.Name, opt))
				}
				fd.flags |= f
			}
		}
		if skip {
			continue
		}
		if sf.Type.Kind() == reflect.String {
			if sf.Name == "QueryLanguage" {
				fd.kind = kindQueryLanguage
			}
		} else {
			k, ok := kinds[sf.Type]
			if !ok {
				panic(fmt.Sprintf("asl: %s.%s: no field kind for %s", t.Name(), sf.Name, sf.Type))
			}
			fd.kind = k
		}
		d.fields = append(d.fields, fd)
	}
	for i := range d.fields {
		d.byName[d.fields[i].name] = &d.fields[i]
	}
	return d
}

// descOf returns the description of the struct v points to.
func descOf(v reflect.Value) *structDesc { return descs[v.Type()] }

// field returns the field name of the state s, or the zero T when s's type has no such field: what several
// state types share is compiled once, whichever of them s is.
func field[T any](s State, name string) T {
	var t T
	v := reflect.ValueOf(s).Elem()
	if fd := descOf(v).byName[name]; fd != nil {
		t, _ = v.Field(fd.index).Interface().(T) // a nil any stays the zero T
	}
	return t
}

// hasField reports whether the state type of s has the field name.
func hasField(s State, name string) bool {
	return descOf(reflect.ValueOf(s).Elem()).byName[name] != nil
}
