"""The offline artifact mirror: what the roles download, built from the registries this machine reaches."""
