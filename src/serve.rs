//! `tfpilot serve`: wires the store, the GitHub client and the router, then listens.
