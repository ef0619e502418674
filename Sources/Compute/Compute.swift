/// The compute core: tensors, the Backend protocol and its CPU implementation.
public enum Compute {}
