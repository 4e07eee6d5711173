//! Runs the shared conformance suite against PostgreSQL, each case on a throwaway database of
//! its own (see `spine_postgres::testing`).

use spine_postgres::testing as support;

use support::fresh_store;

spine_store::conformance_tests!(fresh_store());
