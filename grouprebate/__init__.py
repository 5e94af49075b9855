"""Shared rules of the grouprebate pipeline: campaign config, input contract, CLI."""
