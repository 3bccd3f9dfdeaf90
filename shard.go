package main

// The sharded names of stored results, as the original makes them.

import "strings"

// shard returns the sharded path for key, without extension:
// width 2, depth 3, restonly: "e8/9d/66/bdfdd4dd26b682cc77e23a86eb".
// A key shorter than width*depth is not sharded (keys are 32 hex
// characters; config validation keeps width*depth at most 32).
func shard(key string, sc shardConfig) string {
	if sc.Width <= 0 || sc.Depth <= 0 || sc.Width*sc.Depth > len(key) {
		return key
	}
	var b strings.Builder
	for i := range sc.Depth {
		b.WriteString(key[i*sc.Width : (i+1)*sc.Width])
		b.WriteByte('/')
	}
	if sc.RestOnly {
		b.WriteString(key[sc.Width*sc.Depth:])
	} else {
		b.WriteString(key)
	}
	return b.String()
}
