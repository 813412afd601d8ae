"""The platforms' wire format: the XML of their pushes and which kind of push is which.
Imported by the intake, dispatch, authorization and the sandbox; imports nothing of the product
at all."""
