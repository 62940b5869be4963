// Package instanceid validates EC2 instance IDs, for every worker that takes
// one as input.
package instanceid

import "regexp"

// pattern is EC2's: "i-" and 8 hex digits (the IDs of before 2016) or 17
// (every ID since). Nothing in between exists.
var pattern = regexp.MustCompile(`^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)

// Example is an ID of the current form, for error messages.
const Example = "i-0123456789abcdef0"

// Valid reports whether id is an EC2 instance ID.
func Valid(id string) bool { return pattern.MatchString(id) }
