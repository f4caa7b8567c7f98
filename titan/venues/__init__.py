"""Venue adapters. Nothing outside this package imports a venue client library."""
