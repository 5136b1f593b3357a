"""ESP event adapters (SPEC 8): one module per provider, each an `engine.ports.EspFeed`."""
