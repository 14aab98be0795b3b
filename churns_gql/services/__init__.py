"""Domain rules and all SQL, per domain; no GraphQL imports. Services never commit: callers do."""
