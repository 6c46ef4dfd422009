//! pathlens-store
