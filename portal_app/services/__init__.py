"""The business rules. Each function takes a DB session and a clock, never commits, and raises a
domain error whose message is safe to show a customer."""
