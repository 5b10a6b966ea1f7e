"""The pure core: session models, secret handling, the diagnosis rules, the lifecycle merge. No I/O."""
