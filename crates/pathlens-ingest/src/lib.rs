//! pathlens-ingest
