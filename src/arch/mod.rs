//! Hardware presets: one NeuronCore and the chip it sits in.
