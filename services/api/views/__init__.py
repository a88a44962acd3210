"""How rows are shown in API answers (camelCase, RFC 3339 times, seed status codes)."""
