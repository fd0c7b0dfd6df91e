"""DreamerV3 (2023, as the official HarmonyDream code copies it): distributions -> networks ->
world model -> behaviour -> agent. Discrete actions (Atari)."""
