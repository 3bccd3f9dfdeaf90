package main

import "testing"

func TestShard(t *testing.T) {
	tests := []struct {
		key  string
		sc   shardConfig
		want string
	}{
		{"e89d66bdfdd4dd26b682cc77e23a86eb", shardConfig{Width: 1, Depth: 2, RestOnly: false}, "e/8/e89d66bdfdd4dd26b682cc77e23a86eb"},
		{"e89d66bdfdd4dd26b682cc77e23a86eb", shardConfig{Width: 2, Depth: 3, RestOnly: true}, "e8/9d/66/bdfdd4dd26b682cc77e23a86eb"},
		{"06102586671300cd02ae90f1faa16897", shardConfig{Width: 1, Depth: 2, RestOnly: true}, "0/6/102586671300cd02ae90f1faa16897"},
		{"06102586671300cd02ae90f1faa16897", shardConfig{}, "06102586671300cd02ae90f1faa16897"},
		{"abc", shardConfig{Width: 2, Depth: 2, RestOnly: true}, "abc"},
	}
	for _, tt := range tests {
		if got := shard(tt.key, tt.sc); got != tt.want {
			t.Errorf("shard(%q, %+v) = %q, want %q", tt.key, tt.sc, got, tt.want)
		}
	}
}
