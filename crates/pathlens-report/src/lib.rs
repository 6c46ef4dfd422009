//! pathlens-report
