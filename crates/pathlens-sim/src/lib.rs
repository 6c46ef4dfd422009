//! pathlens-sim
