package tags

// GlobMatch reports whether s matches pattern p, where '*' matches any run
// of bytes and '?' exactly one byte (the label allow/deny lists' syntax),
// for other tag lists in the configuration, such as tag pruning's
// always-keep patterns.
func GlobMatch(p, s string) bool { return globMatch(p, s) }
