"""The event contract: schema, validation rules and landing-zone I/O."""
