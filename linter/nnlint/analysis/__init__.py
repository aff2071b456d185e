"""Read-only analyses of libcst trees shared by the rules: syntax helpers, import names,
the class and forward models, layer vocabularies and the loss data flow."""
