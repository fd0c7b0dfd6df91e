"""The Dreamer update: the optimisers and one training step of world model and behaviour,
the acting copy that overlaps acting with updating, and CUDA-graph capture of the step."""
