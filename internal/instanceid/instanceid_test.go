package instanceid

import "testing"

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		Example:                true,
		"i-0123abcd":           true,
		"i-0123456789":         false, // 10 digits: neither form
		"i-0123456789abcdef":   false, // 16
		"i-0123456789abcdef01": false, // 18
		"i-0123456789ABCDEF0":  false, // EC2 IDs are lower case
		"0123456789abcdef0":    false,
		"i-":                   false,
		"":                     false,
		"i-0123456789abcdef0 ": false,
	} {
		if got := Valid(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
}
