"""pyrkt: a pod-native container engine, an OCI runtime and a policy wrapper.

Nothing is imported here on purpose: the runtime's start-up path must stay lean,
so every module imports what it needs itself.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.1.0"
