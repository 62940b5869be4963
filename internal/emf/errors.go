package emf

import (
	"errors"
	"fmt"
	"strconv"
)

// Field names the part of the input a ValidationError is about.
type Field string

// The fields a ValidationError can point at.
const (
	FieldNamespace      Field = "Namespace"
	FieldMetricName     Field = "MetricName"
	FieldUnit           Field = "Unit"
	FieldValue          Field = "Value"
	FieldDimensionName  Field = "DimensionName"
	FieldDimensionValue Field = "DimensionValue"
	FieldDimensionSet   Field = "DimensionSet"
	FieldPropertyKey    Field = "PropertyKey"
	FieldPropertyValue  Field = "PropertyValue"
	FieldTimestamp      Field = "Timestamp"
)

// Kind says which rule the input broke.
type Kind uint8

// The rules of the EMF specification and of CloudWatch that the encoder enforces.
const (
	KindEmpty      Kind = iota + 1 // empty or whitespace-only string
	KindTooLong                    // longer than the documented maximum
	KindCharset                    // non-ASCII, control character, leading ':' or a character outside the allowed set
	KindReserved                   // "_aws" as a member name, or an "AWS/" namespace
	KindTooMany                    // more than 30 dimensions in one set
	KindUnit                       // not a CloudWatch standard unit
	KindNonFinite                  // NaN or ±Inf
	KindOutOfRange                 // |value| above 2^360 or a non-zero |value| below 2^-360
	KindTimestamp                  // more than 14 days in the past or more than 2 hours ahead
	KindConflict                   // a second unit/resolution for one metric, or one root member used twice
	KindTooLarge                   // dimensions and properties leave no room for metrics in a 1 MB document
	KindType                       // a property value that cannot be encoded as JSON
)

var kindNames = [...]string{
	KindEmpty:      "empty",
	KindTooLong:    "too long",
	KindCharset:    "invalid characters",
	KindReserved:   "reserved",
	KindTooMany:    "too many dimensions",
	KindUnit:       "unknown unit",
	KindNonFinite:  "not finite",
	KindOutOfRange: "out of range",
	KindTimestamp:  "outside the accepted window",
	KindConflict:   "conflict",
	KindTooLarge:   "too large",
	KindType:       "not encodable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ErrInvalid matches every *ValidationError with errors.Is.
var ErrInvalid = errors.New("emf: invalid input")

// ValidationError reports input that the logger dropped because printing it would produce a document CloudWatch
// rejects or misreads. The input is discarded; everything else already recorded is kept.
type ValidationError struct {
	Field  Field  // what was wrong
	Kind   Kind   // which rule it broke
	Name   string // the metric, dimension or property concerned (may be empty), truncated to 64 bytes
	Detail string // a short human explanation
}

func (e *ValidationError) Error() string {
	msg := "emf: " + string(e.Field)
	if e.Name != "" {
		msg += " " + strconv.Quote(e.Name)
	}
	msg += ": " + e.Kind.String()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalid) true for every validation error.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(f Field, k Kind, name, detail string) *ValidationError {
	if len(name) > 64 {
		name = name[:64]
	}
	return &ValidationError{Field: f, Kind: k, Name: name, Detail: detail}
}

// ErrNotEMF is returned by Decode for a line that is not an EMF document at all (not a JSON object, or one without an
// "_aws" member). DecodeAll skips such lines: they are ordinary log output.
var ErrNotEMF = errors.New("emf: not an EMF document")

// DecodeError reports a line that claims to be EMF (it has an "_aws" member) but breaks the specification.
type DecodeError struct {
	Path   string // JSON path of the offending member, e.g. `_aws.CloudWatchMetrics[0].Metrics[2].Unit`
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("emf: invalid document at %s: %s", e.Path, e.Reason)
}
