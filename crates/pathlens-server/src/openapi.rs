//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, generated
//! from the handlers' `#[utoipa::path]` annotations and the request and
//! response types they use; and the list of routes it must describe (a
//! test holds the router, this list and the document to each other, and
//! another the committed `openapi.json` to the generated document).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::{
    ObjectBuilder, RefOr, ResponseBuilder, Type,
    content::ContentBuilder,
    header::HeaderBuilder,
    response::Response,
    schema::Object,
    security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse};

use crate::routes;

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pathlens API",
        version = "1",
        description = "Analytics for interactive (branching) video. Authenticate with 'Authorization: Bearer <token>'. Admin tokens read and manage their partner's data; write keys only send events (and may be passed as ?key= for beacons)."
    ),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
    paths(
        routes::events::ingest,
        routes::videos::list,
        routes::videos::create,
        routes::videos::show,
        routes::videos::replace,
        routes::reports::report,
        routes::reports::values,
        routes::keys::list,
        routes::keys::create,
        routes::keys::revoke,
        routes::keys::me,
        document,
        routes::health,
        crate::metrics::render,
        routes::kava::index_php_get,
        routes::kava::index_php_post,
        routes::kava::track_event_get,
        routes::kava::track_event_post,
        routes::xapi::post,
        routes::xapi::put,
        routes::tracker::script,
    ),
    components(responses(ErrorResponse, RateLimited, Unavailable)),
    tags(
        (name = "events", description = "Events sent by players and the JS tracker, and imports"),
        (name = "videos", description = "Interactive videos: their graphs, levels and history"),
        (name = "reports", description = "Reports over a video's events, and the values its filters take"),
        (name = "keys", description = "API keys of the caller's partner"),
        (name = "kaltura", description = "Kaltura KAVA analytics beacons, as Kaltura's players send them"),
        (name = "xapi", description = "xAPI statements, as H5P and e-learning platforms send them"),
        (name = "operations", description = "Health, metrics, this document and the tracker script"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme every authenticated route names.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The generated document, pretty-printed with a trailing newline: what
/// `crates/pathlens-server/openapi.json` holds.
pub fn document_text() -> String {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    beyond_utoipa(&mut document);
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// What the document says that utoipa's model cannot: whether a header is
/// always sent (a 429 always carries Retry-After, a 503 only when retrying
/// later helps), and request bodies that may be left out (a beacon's POST
/// may carry everything in its query string; utoipa marks a body optional
/// only by making its schemas nullable).
fn beyond_utoipa(document: &mut serde_json::Value) {
    let responses = &mut document["components"]["responses"];
    responses["RateLimited"]["headers"]["Retry-After"]["required"] = true.into();
    responses["Unavailable"]["headers"]["Retry-After"]["required"] = false.into();
    for path in [
        "/api_v3/index.php",
        "/api_v3/service/analytics/action/trackEvent",
    ] {
        document["paths"][path]["post"]["requestBody"]["required"] = false.into();
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(document_text);

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This document",
    security(),
    responses((status = 200, description = "OpenAPI", body = Object)),
)]
pub async fn document() -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// Every route of [`crate::router`]: method and OpenAPI path.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/events"),
    ("get", "/api/v1/videos"),
    ("post", "/api/v1/videos"),
    ("get", "/api/v1/videos/{video}"),
    ("put", "/api/v1/videos/{video}"),
    ("get", "/api/v1/videos/{video}/reports/{kind}"),
    ("get", "/api/v1/videos/{video}/values/{dimension}"),
    ("get", "/api/v1/keys"),
    ("post", "/api/v1/keys"),
    ("delete", "/api/v1/keys/{id}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api_v3/index.php"),
    ("post", "/api_v3/index.php"),
    ("get", "/api_v3/service/analytics/action/trackEvent"),
    ("post", "/api_v3/service/analytics/action/trackEvent"),
    ("post", "/xapi/statements"),
    ("put", "/xapi/statements"),
    ("get", "/pathlens.js"),
];

/// An error answer whose body is the `Error` schema, with a `Retry-After`
/// header when `retry_after`.
fn error_response(description: &str, retry_after: bool) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "Error",
            ))))
            .build(),
    );
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .description(Some("Seconds to wait before retrying"))
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .build(),
        );
    }
    response.build()
}

/// The error answers an operation documents: `Error` for each status but
/// 429 (`RateLimited`) and 503 (`Unavailable`).
fn error_responses(statuses: &[u16]) -> std::collections::BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|status| {
            let name = match status {
                429 => "RateLimited",
                503 => "Unavailable",
                _ => "Error",
            };
            let reference = utoipa::openapi::Ref::from_response_name(name);
            (status.to_string(), RefOr::Ref(reference))
        })
        .collect()
}

/// Sets of error statuses that operations answer alike, for their
/// `#[utoipa::path(responses(…))]`.
macro_rules! error_statuses {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
                error_responses(&[$($status),*])
            }
        }
    )*};
}

error_statuses! {
    /// An admin's read: 400, 401, 403, 500, 429, 503.
    AdminRead = [400, 401, 403, 500, 429, 503];
    /// An admin's read of one thing that may not exist: 400, 401, 403, 404, 500, 429, 503.
    AdminLookup = [400, 401, 403, 404, 500, 429, 503];
    /// An admin's write with a body: 400, 401, 403, 408, 413, 500, 429, 503.
    AdminWrite = [400, 401, 403, 408, 413, 500, 429, 503];
    /// A batch of events or statements: 400, 401, 403, 408, 413, 429, 503.
    Ingest = [400, 401, 403, 408, 413, 429, 503];
    /// A beacon in a query string: 400, 403, 413, 429, 503.
    Beacon = [400, 403, 413, 429, 503];
    /// A beacon with a body: 400, 403, 408, 413, 429, 503.
    BeaconWithBody = [400, 403, 408, 413, 429, 503];
    /// A batch of events, whose 400 has its own body: 401, 408, 413, 429, 503.
    Events = [401, 408, 413, 429, 503];
    /// Any key's read of itself: 401, 429.
    AnyKey = [401, 429];
    /// The operator's metrics: 401, 403.
    Operator = [401, 403];
    /// A health check: 503.
    Health = [503];
}

/// `components/responses/Error`: any error but those below.
pub struct ErrorResponse;

impl<'r> ToResponse<'r> for ErrorResponse {
    fn response() -> (&'r str, RefOr<Response>) {
        ("Error", error_response("An error", false).into())
    }
}

/// `components/responses/RateLimited`: 429, with `Retry-After`.
pub struct RateLimited;

impl<'r> ToResponse<'r> for RateLimited {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "RateLimited",
            error_response(
                "rate_limited: too many requests from this key or address (rate_limit_per_key, beacon_rate_limit, or an address locked out for failing authentication, auth_failures_per_minute)",
                true,
            )
            .into(),
        )
    }
}

/// `components/responses/Unavailable`: 503, with `Retry-After` when
/// retrying later will help.
pub struct Unavailable;

impl<'r> ToResponse<'r> for Unavailable {
    fn response() -> (&'r str, RefOr<Response>) {
        (
            "Unavailable",
            error_response(
                "The store cannot answer now (overloaded, storage_unavailable, storage_full, deadline_exceeded); nothing was stored; retry, after Retry-After when given",
                true,
            )
            .into(),
        )
    }
}

/// A string schema that takes only `values`.
pub(crate) fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

/// A unit type whose schema is a string taking only the values listed (from
/// the server's own tables), for parameters that the handlers parse
/// themselves.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident => $values:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::one_of($values).into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The range presets.
    RangePreset => pathlens_report::period::PRESETS
);
string_enum!(
    /// The context dimensions.
    DimensionName => pathlens_store::Dimension::ALL.map(pathlens_store::Dimension::name)
);
string_enum!(
    /// Which viewers a report counts.
    ViewerChoice => ["known", "anonymous", "all"]
);
string_enum!(
    /// The time buckets of a series.
    IntervalName => pathlens_report::period::Interval::ALL.map(pathlens_report::period::Interval::name)
);
string_enum!(
    /// A sort order.
    Order => ["asc", "desc"]
);
string_enum!(
    /// A report's formats.
    Format => ["json", "csv"]
);
string_enum!(
    /// The report kinds.
    ReportKindName => pathlens_report::ReportKind::ALL.map(pathlens_report::ReportKind::name)
);

/// The period of a report or of a dimension's values.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PeriodParams {
    /// Preset: last_7_days, last_30_days (default), last_90_days, last_12_months, this_week, this_month, this_quarter, this_year, previous_month
    #[param(inline)]
    range: Option<RangePreset>,
    /// First local day (YYYY-MM-DD); with to
    #[param(format = Date, example = "2025-01-01")]
    from: Option<String>,
    /// Last local day, inclusive (YYYY-MM-DD); with from
    #[param(format = Date, example = "2025-01-31")]
    to: Option<String>,
    /// IANA time zone for days and buckets (default UTC)
    #[param(example = "Europe/Paris")]
    tz: Option<String>,
}

/// The row filters of reports and of dimension values.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FilterParams {
    /// Comma-separated ISO country codes; 'unknown' matches events without one
    #[param(example = "FR,DE")]
    countries: Option<String>,
    /// Comma-separated device types
    devices: Option<String>,
    /// Comma-separated operating systems
    os: Option<String>,
    /// Comma-separated browsers
    browsers: Option<String>,
    /// Comma-separated referrer domains
    referrer_domains: Option<String>,
    /// Comma-separated applications
    applications: Option<String>,
    /// Comma-separated: vod, live, dvr, unknown (events without a playback type) (default: all)
    #[param(example = "vod,live")]
    playback_types: Option<String>,
    /// Comma-separated user ids
    user_ids: Option<String>,
    /// known, anonymous or all
    #[param(inline)]
    viewer: Option<ViewerChoice>,
}

/// The path of a report.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ReportPath {
    /// Interactive video id
    #[param(example = "example")]
    video: String,
    /// Report kind
    #[param(inline)]
    kind: ReportKindName,
}

/// What a report's kind takes beyond its period and filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReportParams {
    /// timeseries bucket: hour, day (default), week, month
    #[param(inline)]
    interval: Option<IntervalName>,
    /// previous_period, previous_year or a custom start date YYYY-MM-DD
    #[param(example = "previous_period")]
    compare: Option<String>,
    /// Keep sessions that reached any of these node ids
    nodes: Option<String>,
    /// Keep sessions that clicked any of these hotspot ids
    hotspots: Option<String>,
    /// Node id (node and curve reports)
    node: Option<String>,
    /// Hotspot id (heatmap report)
    hotspot: Option<String>,
    /// The dimension of a breakdown report (default country): country, device, os, browser, referrer_domain, application, playback_type. Rows are its values ranked by plays, each with the period's figures filtered to that value (the value unknown stands for events without one); page_size is at most 100 (default 10).
    #[param(inline, default = "country")]
    dimension: Option<DimensionName>,
    /// Column to sort nodes, transitions or viewers by
    sort: Option<String>,
    /// asc or desc (default)
    #[param(inline)]
    order: Option<Order>,
    /// Page number from 1
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Rows per page (default 50, at most 10000)
    #[param(minimum = 1, maximum = 10000)]
    page_size: Option<u32>,
    /// json (default) or csv
    #[param(inline)]
    format: Option<Format>,
}

/// The path of a dimension's values.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ValuesPath {
    /// Interactive video id
    #[param(example = "example")]
    video: String,
    /// The dimension whose values are listed
    #[param(inline)]
    dimension: DimensionName,
}

/// How many values to list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LimitParams {
    /// How many values to list, 1 to 1000 (default 100)
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
}
