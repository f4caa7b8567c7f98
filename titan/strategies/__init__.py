"""Trading strategies. Each is pure logic: time and market data come in as arguments."""
