"""The tenant gateway (docs/gateway.md): the platforms' APIs called on behalf of the ISV's
services with the right token, the JS-SDK tickets and signatures, and the sign-in exchanges; the
credentials stay here. The HTTP side is in api/."""
