//! The field names of the native event, as docs/metrics.md lists them.

/// One field of the native event format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    PartnerId,
    VideoId,
    NodeId,
    EntryId,
    SessionId,
    EventIndex,
    Ts,
    Kind,
    UserId,
    Position,
    PlayTimeSum,
    FromNodeId,
    ToNodeId,
    HotspotId,
    TargetUrl,
    Quartile,
    Country,
    Device,
    Os,
    Browser,
    ReferrerDomain,
    Application,
    PlaybackType,
}

impl Field {
    /// Every field, in the order docs/metrics.md lists them.
    pub(crate) const ALL: [Field; 23] = [
        Field::PartnerId,
        Field::VideoId,
        Field::NodeId,
        Field::EntryId,
        Field::SessionId,
        Field::EventIndex,
        Field::Ts,
        Field::Kind,
        Field::UserId,
        Field::Position,
        Field::PlayTimeSum,
        Field::FromNodeId,
        Field::ToNodeId,
        Field::HotspotId,
        Field::TargetUrl,
        Field::Quartile,
        Field::Country,
        Field::Device,
        Field::Os,
        Field::Browser,
        Field::ReferrerDomain,
        Field::Application,
        Field::PlaybackType,
    ];

    /// The field's name on the wire.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::PartnerId => "partner_id",
            Field::VideoId => "video_id",
            Field::NodeId => "node_id",
            Field::EntryId => "entry_id",
            Field::SessionId => "session_id",
            Field::EventIndex => "event_index",
            Field::Ts => "ts",
            Field::Kind => "kind",
            Field::UserId => "user_id",
            Field::Position => "position",
            Field::PlayTimeSum => "play_time_sum",
            Field::FromNodeId => "from_node_id",
            Field::ToNodeId => "to_node_id",
            Field::HotspotId => "hotspot_id",
            Field::TargetUrl => "target_url",
            Field::Quartile => "quartile",
            Field::Country => "country",
            Field::Device => "device",
            Field::Os => "os",
            Field::Browser => "browser",
            Field::ReferrerDomain => "referrer_domain",
            Field::Application => "application",
            Field::PlaybackType => "playback_type",
        }
    }

    /// The field named `name`, if the native format has one. A `match`
    /// rather than a search of [`Field::ALL`]: it runs for every key of every
    /// event.
    pub(crate) fn from_name(name: &str) -> Option<Field> {
        let field = match name {
            "partner_id" => Field::PartnerId,
            "video_id" => Field::VideoId,
            "node_id" => Field::NodeId,
            "entry_id" => Field::EntryId,
            "session_id" => Field::SessionId,
            "event_index" => Field::EventIndex,
            "ts" => Field::Ts,
            "kind" => Field::Kind,
            "user_id" => Field::UserId,
            "position" => Field::Position,
            "play_time_sum" => Field::PlayTimeSum,
            "from_node_id" => Field::FromNodeId,
            "to_node_id" => Field::ToNodeId,
            "hotspot_id" => Field::HotspotId,
            "target_url" => Field::TargetUrl,
            "quartile" => Field::Quartile,
            "country" => Field::Country,
            "device" => Field::Device,
            "os" => Field::Os,
            "browser" => Field::Browser,
            "referrer_domain" => Field::ReferrerDomain,
            "application" => Field::Application,
            "playback_type" => Field::PlaybackType,
            _ => return None,
        };
        Some(field)
    }

    /// A bit of its own, so a reader can notice a field given twice.
    pub(crate) fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// The reason given for a field the native format does not have,
    /// suggesting the nearest known name when the unknown one looks like a
    /// typo of it.
    pub(crate) fn unknown_reason(name: &str) -> String {
        match nearest_name(name) {
            Some(known) => format!("unknown field; did you mean \"{known}\"?"),
            None => "unknown field; the native event format has no field of this name".to_owned(),
        }
    }
}

/// The known name within two edits of `name` spelled in snake case, if there
/// is one. Snake-casing first catches the camelCase of KAVA parameters
/// (`eventIndex`).
fn nearest_name(name: &str) -> Option<&'static str> {
    const MAX_TYPO_EDITS: usize = 2;
    let snake = snake_case(name);
    Field::ALL
        .into_iter()
        .map(|field| (edit_distance(&snake, field.name()), field.name()))
        .filter(|(distance, _)| *distance <= MAX_TYPO_EDITS)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// `name` with each inner upper-case letter turned into `_` and its lower
/// case.
fn snake_case(name: &str) -> String {
    let mut snake = String::with_capacity(name.len() + 4);
    for (position, character) in name.chars().enumerate() {
        if character.is_ascii_uppercase() && position > 0 {
            snake.push('_');
        }
        snake.push(character.to_ascii_lowercase());
    }
    snake
}

/// The Levenshtein distance between two short names, ASCII-insensitive to
/// case so `Session_ID` is one typo of its own.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (row, left_char) in left.chars().enumerate() {
        let mut current = vec![row + 1; right.len() + 1];
        for (column, right_char) in right.iter().enumerate() {
            let substitution = usize::from(!left_char.eq_ignore_ascii_case(right_char));
            current[column + 1] = (previous[column] + substitution)
                .min(previous[column + 1] + 1)
                .min(current[column] + 1);
        }
        previous = current;
    }
    previous[right.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_distinct() {
        let mut bits = 0u32;
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
            assert_eq!(bits & field.bit(), 0);
            bits |= field.bit();
        }
        assert_eq!(Field::from_name("sessionId"), None);
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            Field::unknown_reason("sesion_id"),
            "unknown field; did you mean \"session_id\"?"
        );
        assert_eq!(
            Field::unknown_reason("playTimeSum"),
            "unknown field; did you mean \"play_time_sum\"?"
        );
        assert_eq!(
            Field::unknown_reason("Video_Id"),
            "unknown field; did you mean \"video_id\"?"
        );
        assert!(Field::unknown_reason("colour").contains("no field of this name"));
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ts", "ts"), 0);
    }
}
