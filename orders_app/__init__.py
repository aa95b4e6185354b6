"""CoffeeMesh Orders service."""
