"""DreamerV2 (continuous actions): networks -> world model -> behaviour -> agent."""
