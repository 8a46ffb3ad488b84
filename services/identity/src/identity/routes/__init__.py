"""Identity's routers: OAuth/OIDC protocol endpoints, the user directory, admin, health."""
