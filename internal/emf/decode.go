package emf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Record is one metric datum CloudWatch extracts from an EMF document: one per metric and dimension set.
type Record struct {
	Namespace string
	Datum     types.MetricDatum
}

// Name is the metric name.
func (r Record) Name() string { return aws.ToString(r.Datum.MetricName) }

// Dimension returns the value of the named dimension of this datum.
func (r Record) Dimension(name string) (string, bool) {
	for _, d := range r.Datum.Dimensions {
		if aws.ToString(d.Name) == name {
			return aws.ToString(d.Value), true
		}
	}
	return "", false
}

// DimensionNames lists the datum's dimension names in document order.
func (r Record) DimensionNames() []string {
	names := make([]string, len(r.Datum.Dimensions))
	for i, d := range r.Datum.Dimensions {
		names[i] = aws.ToString(d.Name)
	}
	return names
}

// Samples returns the datum's values: Value alone, or Values.
func (r Record) Samples() []float64 {
	if r.Datum.Value != nil {
		return []float64{*r.Datum.Value}
	}
	return r.Datum.Values
}

// Sum adds up the datum's values (what CloudWatch's Sum statistic shows for this datum).
func (r Record) Sum() float64 {
	var s float64
	for _, v := range r.Samples() {
		s += v
	}
	return s
}

// Find returns the records of metric name. With dimension names, only records whose dimension set is exactly those
// names (in any order) are returned: Find(recs, "BackupSuccess", "ClusterName") is the [ClusterName] datum.
func Find(recs []Record, name string, dimensionNames ...string) []Record {
	var out []Record
	for _, r := range recs {
		if r.Name() != name {
			continue
		}
		if len(dimensionNames) > 0 && !sameKeys(r.DimensionNames(), dimensionNames) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// DecodeAll decodes every EMF line read from r, skipping lines that are not EMF (plain log output, JSON without an
// "_aws" member). A line that is EMF but invalid stops decoding with an error naming the line.
func DecodeAll(r io.Reader) ([]Record, error) {
	br := bufio.NewReader(r)
	var out []Record
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			recs, derr := Decode(line)
			switch {
			case errors.Is(derr, ErrNotEMF):
			case derr != nil:
				return out, fmt.Errorf("emf: line %d: %w", n, derr)
			default:
				out = append(out, recs...)
			}
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("emf: read: %w", err)
		}
	}
}

// Decode parses one EMF document into the data CloudWatch would extract from it, checking the specification and the
// CloudWatch limits on the way: ErrNotEMF for a line that is not EMF at all, *DecodeError for one that is invalid.
// Members the specification does not define inside "_aws" are ignored, as the specification requires.
func Decode(line []byte) ([]Record, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, ErrNotEMF
	}
	root, err := decodeObject(line, "$")
	if err != nil {
		if bytes.Contains(line, []byte(`"_aws"`)) {
			return nil, err
		}
		return nil, ErrNotEMF
	}
	meta, ok := root[reservedMember]
	if !ok {
		return nil, ErrNotEMF
	}
	metadata, err := decodeObject(meta, "_aws")
	if err != nil {
		return nil, err
	}
	ts, err := decodeTimestamp(metadata)
	if err != nil {
		return nil, err
	}
	rawDirectives, ok := metadata["CloudWatchMetrics"]
	if !ok {
		return nil, &DecodeError{Path: "_aws", Reason: "CloudWatchMetrics is required"}
	}
	directives, err := decodeArray(rawDirectives, "_aws.CloudWatchMetrics")
	if err != nil {
		return nil, err
	}
	var out []Record
	for i, raw := range directives {
		recs, err := decodeDirective(raw, "_aws.CloudWatchMetrics["+strconv.Itoa(i)+"]", root, ts)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func decodeTimestamp(meta map[string]json.RawMessage) (time.Time, error) {
	raw, ok := meta["Timestamp"]
	if !ok {
		return time.Time{}, &DecodeError{Path: "_aws", Reason: "Timestamp is required"}
	}
	f, err := decodeNumber(raw, "_aws.Timestamp")
	if err != nil {
		return time.Time{}, err
	}
	if f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return time.Time{}, &DecodeError{Path: "_aws.Timestamp", Reason: "must be a non-negative integer number of milliseconds"}
	}
	return time.UnixMilli(int64(f)).UTC(), nil
}

func decodeDirective(raw json.RawMessage, path string, root map[string]json.RawMessage, ts time.Time) ([]Record, error) {
	d, err := decodeObject(raw, path)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"Namespace", "Dimensions", "Metrics"} {
		if _, ok := d[k]; !ok {
			return nil, &DecodeError{Path: path, Reason: k + " is required"}
		}
	}
	ns, err := decodeString(d["Namespace"], path+".Namespace")
	if err != nil {
		return nil, err
	}
	// CloudWatch's rule (printable ASCII, 1–255), looser than the character set New enforces, so that documents
	// from other EMF libraries decode.
	if e := checkASCII(FieldNamespace, ns, ns, MaxNamespaceLength); e != nil {
		return nil, &DecodeError{Path: path + ".Namespace", Reason: e.Error()}
	}

	rawSets, err := decodeArray(d["Dimensions"], path+".Dimensions")
	if err != nil {
		return nil, err
	}
	if len(rawSets) == 0 {
		return nil, &DecodeError{Path: path + ".Dimensions", Reason: "must hold at least one dimension set"}
	}
	sets := make([][]types.Dimension, len(rawSets))
	for i, rs := range rawSets {
		sp := path + ".Dimensions[" + strconv.Itoa(i) + "]"
		keys, err := decodeArray(rs, sp)
		if err != nil {
			return nil, err
		}
		if len(keys) > MaxDimensionsPerSet {
			return nil, &DecodeError{Path: sp, Reason: "more than 30 dimensions"}
		}
		seen := make([]string, 0, len(keys))
		for j, rk := range keys {
			kp := sp + "[" + strconv.Itoa(j) + "]"
			k, err := decodeString(rk, kp)
			if err != nil {
				return nil, err
			}
			if e := checkName(FieldDimensionName, k); e != nil {
				return nil, &DecodeError{Path: kp, Reason: e.Error()}
			}
			if slices.Contains(seen, k) {
				return nil, &DecodeError{Path: kp, Reason: "dimension " + strconv.Quote(k) + " appears twice in the set"}
			}
			seen = append(seen, k)
			target, ok := root[k]
			if !ok {
				return nil, &DecodeError{Path: kp, Reason: "no root member " + strconv.Quote(k) + " holds the dimension value"}
			}
			v, err := decodeString(target, k)
			if err != nil {
				return nil, err
			}
			if e := checkDimensionValue(k, v); e != nil {
				return nil, &DecodeError{Path: k, Reason: e.Error()}
			}
			sets[i] = append(sets[i], types.Dimension{Name: aws.String(k), Value: aws.String(v)})
		}
	}

	defs, err := decodeArray(d["Metrics"], path+".Metrics")
	if err != nil {
		return nil, err
	}
	if len(defs) > MaxMetricsPerDocument {
		return nil, &DecodeError{Path: path + ".Metrics", Reason: "more than 100 metric definitions"}
	}
	var out []Record
	names := make([]string, 0, len(defs))
	for i, rd := range defs {
		mp := path + ".Metrics[" + strconv.Itoa(i) + "]"
		def, err := decodeObject(rd, mp)
		if err != nil {
			return nil, err
		}
		rawName, ok := def["Name"]
		if !ok {
			return nil, &DecodeError{Path: mp, Reason: "Name is required"}
		}
		name, err := decodeString(rawName, mp+".Name")
		if err != nil {
			return nil, err
		}
		if e := checkName(FieldMetricName, name); e != nil {
			return nil, &DecodeError{Path: mp + ".Name", Reason: e.Error()}
		}
		if slices.Contains(names, name) {
			return nil, &DecodeError{Path: mp + ".Name", Reason: "metric " + strconv.Quote(name) + " is declared twice"}
		}
		names = append(names, name)
		var unit types.StandardUnit
		if raw, ok := def["Unit"]; ok {
			u, err := decodeString(raw, mp+".Unit")
			if err != nil {
				return nil, err
			}
			if _, e := checkUnit(name, types.StandardUnit(u)); e != nil || u == "" {
				return nil, &DecodeError{Path: mp + ".Unit", Reason: "not a CloudWatch standard unit: " + strconv.Quote(u)}
			}
			unit = types.StandardUnit(u)
		}
		var resolution *int32
		if raw, ok := def["StorageResolution"]; ok {
			f, err := decodeNumber(raw, mp+".StorageResolution")
			if err != nil {
				return nil, err
			}
			if f != 1 && f != 60 {
				return nil, &DecodeError{Path: mp + ".StorageResolution", Reason: "must be 1 or 60"}
			}
			resolution = aws.Int32(int32(f))
		}
		target, ok := root[name]
		if !ok {
			return nil, &DecodeError{Path: mp + ".Name", Reason: "no root member " + strconv.Quote(name) + " holds the metric value"}
		}
		value, values, err := decodeMetricValues(target, name)
		if err != nil {
			return nil, err
		}
		for _, set := range sets {
			datum := types.MetricDatum{
				MetricName: aws.String(name),
				Unit:       unit,
				Timestamp:  aws.Time(ts),
			}
			if len(set) > 0 {
				datum.Dimensions = slices.Clone(set)
			}
			if values != nil {
				datum.Values = slices.Clone(values)
			} else {
				datum.Value = aws.Float64(value)
			}
			if resolution != nil {
				datum.StorageResolution = aws.Int32(*resolution)
			}
			out = append(out, Record{Namespace: ns, Datum: datum})
		}
	}
	return out, nil
}

// decodeMetricValues reads a metric's target member: a number, or an array of 1–100 numbers.
func decodeMetricValues(raw json.RawMessage, name string) (float64, []float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		items, err := decodeArray(raw, name)
		if err != nil {
			return 0, nil, err
		}
		if len(items) == 0 || len(items) > MaxValuesPerMetric {
			return 0, nil, &DecodeError{Path: name, Reason: "a metric array holds 1 to 100 values"}
		}
		values := make([]float64, len(items))
		for i, it := range items {
			p := name + "[" + strconv.Itoa(i) + "]"
			v, err := decodeNumber(it, p)
			if err != nil {
				return 0, nil, err
			}
			if e := checkValue(name, v); e != nil {
				return 0, nil, &DecodeError{Path: p, Reason: e.Error()}
			}
			values[i] = v
		}
		return 0, values, nil
	}
	v, err := decodeNumber(raw, name)
	if err != nil {
		return 0, nil, err
	}
	if e := checkValue(name, v); e != nil {
		return 0, nil, &DecodeError{Path: name, Reason: e.Error()}
	}
	return v, nil, nil
}

// decodeObject reads a JSON object keeping member names exactly (encoding/json matches struct fields
// case-insensitively, while EMF names are case-sensitive) and rejecting a member given twice.
func decodeObject(raw []byte, path string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, &DecodeError{Path: path, Reason: "not valid JSON: " + err.Error()}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &DecodeError{Path: path, Reason: "must be an object"}
	}
	obj := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &DecodeError{Path: path, Reason: "not valid JSON: " + err.Error()}
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, &DecodeError{Path: path, Reason: "not valid JSON: " + err.Error()}
		}
		if _, dup := obj[key]; dup {
			return nil, &DecodeError{Path: path, Reason: "member " + strconv.Quote(key) + " appears twice"}
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, &DecodeError{Path: path, Reason: "not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &DecodeError{Path: path, Reason: "data after the object"}
	}
	return obj, nil
}

func decodeArray(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, &DecodeError{Path: path, Reason: "must be an array"}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &DecodeError{Path: path, Reason: "not valid JSON: " + err.Error()}
	}
	return items, nil
}

func decodeString(raw json.RawMessage, path string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", &DecodeError{Path: path, Reason: "must be a string"}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &DecodeError{Path: path, Reason: "not valid JSON: " + err.Error()}
	}
	return s, nil
}

func decodeNumber(raw json.RawMessage, path string) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, &DecodeError{Path: path, Reason: "must be a number"}
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, &DecodeError{Path: path, Reason: "not a representable number: " + err.Error()}
	}
	return f, nil
}
