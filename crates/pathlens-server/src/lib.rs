//! pathlens-server
