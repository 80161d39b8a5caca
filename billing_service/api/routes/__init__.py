"""The API's routes, one module per family of resources."""
