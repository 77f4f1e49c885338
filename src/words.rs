//! Digests read aloud as words: the PGP word list (Juola and Zimmermann, PGPfone, 1995), which
//! IANA's root KSK ceremonies use for the same job (`iana-org/dnssec-keytools`,
//! `kskm/common/wordlist.py`, prints `SHA-256 <hex> WORDS <words>`). A byte at an even offset is
//! a two-syllable word, at an odd offset a three-syllable one, so a swapped, repeated or dropped
//! word is heard as a break in the rhythm. The table is the published list, capitals included
//! (`Algol`, `Apollo`, `Istanbul`); tests check it against IANA's and Wikipedia's vectors and
//! against a second, independently typed copy of the list.

/// The word for each byte value: (even offset, odd offset).
const WORDS: [(&str, &str); 256] = [
    ("aardvark", "adroitness"),
    ("absurd", "adviser"),
    ("accrue", "aftermath"),
    ("acme", "aggregate"),
    ("adrift", "alkali"),
    ("adult", "almighty"),
    ("afflict", "amulet"),
    ("ahead", "amusement"),
    ("aimless", "antenna"),
    ("Algol", "applicant"),
    ("allow", "Apollo"),
    ("alone", "armistice"),
    ("ammo", "article"),
    ("ancient", "asteroid"),
    ("apple", "Atlantic"),
    ("artist", "atmosphere"),
    ("assume", "autopsy"),
    ("Athens", "Babylon"),
    ("atlas", "backwater"),
    ("Aztec", "barbecue"),
    ("baboon", "belowground"),
    ("backfield", "bifocals"),
    ("backward", "bodyguard"),
    ("banjo", "bookseller"),
    ("beaming", "borderline"),
    ("bedlamp", "bottomless"),
    ("beehive", "Bradbury"),
    ("beeswax", "bravado"),
    ("befriend", "Brazilian"),
    ("Belfast", "breakaway"),
    ("berserk", "Burlington"),
    ("billiard", "businessman"),
    ("bison", "butterfat"),
    ("blackjack", "Camelot"),
    ("blockade", "candidate"),
    ("blowtorch", "cannonball"),
    ("bluebird", "Capricorn"),
    ("bombast", "caravan"),
    ("bookshelf", "caretaker"),
    ("brackish", "celebrate"),
    ("breadline", "cellulose"),
    ("breakup", "certify"),
    ("brickyard", "chambermaid"),
    ("briefcase", "Cherokee"),
    ("Burbank", "Chicago"),
    ("button", "clergyman"),
    ("buzzard", "coherence"),
    ("cement", "combustion"),
    ("chairlift", "commando"),
    ("chatter", "company"),
    ("checkup", "component"),
    ("chisel", "concurrent"),
    ("choking", "confidence"),
    ("chopper", "conformist"),
    ("Christmas", "congregate"),
    ("clamshell", "consensus"),
    ("classic", "consulting"),
    ("classroom", "corporate"),
    ("cleanup", "corrosion"),
    ("clockwork", "councilman"),
    ("cobra", "crossover"),
    ("commence", "crucifix"),
    ("concert", "cumbersome"),
    ("cowbell", "customer"),
    ("crackdown", "Dakota"),
    ("cranky", "decadence"),
    ("crowfoot", "December"),
    ("crucial", "decimal"),
    ("crumpled", "designing"),
    ("crusade", "detector"),
    ("cubic", "detergent"),
    ("dashboard", "determine"),
    ("deadbolt", "dictator"),
    ("deckhand", "dinosaur"),
    ("dogsled", "direction"),
    ("dragnet", "disable"),
    ("drainage", "disbelief"),
    ("dreadful", "disruptive"),
    ("drifter", "distortion"),
    ("dropper", "document"),
    ("drumbeat", "embezzle"),
    ("drunken", "enchanting"),
    ("Dupont", "enrollment"),
    ("dwelling", "enterprise"),
    ("eating", "equation"),
    ("edict", "equipment"),
    ("egghead", "escapade"),
    ("eightball", "Eskimo"),
    ("endorse", "everyday"),
    ("endow", "examine"),
    ("enlist", "existence"),
    ("erase", "exodus"),
    ("escape", "fascinate"),
    ("exceed", "filament"),
    ("eyeglass", "finicky"),
    ("eyetooth", "forever"),
    ("facial", "fortitude"),
    ("fallout", "frequency"),
    ("flagpole", "gadgetry"),
    ("flatfoot", "Galveston"),
    ("flytrap", "getaway"),
    ("fracture", "glossary"),
    ("framework", "gossamer"),
    ("freedom", "graduate"),
    ("frighten", "gravity"),
    ("gazelle", "guitarist"),
    ("Geiger", "hamburger"),
    ("glitter", "Hamilton"),
    ("glucose", "handiwork"),
    ("goggles", "hazardous"),
    ("goldfish", "headwaters"),
    ("gremlin", "hemisphere"),
    ("guidance", "hesitate"),
    ("hamlet", "hideaway"),
    ("highchair", "holiness"),
    ("hockey", "hurricane"),
    ("indoors", "hydraulic"),
    ("indulge", "impartial"),
    ("inverse", "impetus"),
    ("involve", "inception"),
    ("island", "indigo"),
    ("jawbone", "inertia"),
    ("keyboard", "infancy"),
    ("kickoff", "inferno"),
    ("kiwi", "informant"),
    ("klaxon", "insincere"),
    ("locale", "insurgent"),
    ("lockup", "integrate"),
    ("merit", "intention"),
    ("minnow", "inventive"),
    ("miser", "Istanbul"),
    ("Mohawk", "Jamaica"),
    ("mural", "Jupiter"),
    ("music", "leprosy"),
    ("necklace", "letterhead"),
    ("Neptune", "liberty"),
    ("newborn", "maritime"),
    ("nightbird", "matchmaker"),
    ("Oakland", "maverick"),
    ("obtuse", "Medusa"),
    ("offload", "megaton"),
    ("optic", "microscope"),
    ("orca", "microwave"),
    ("payday", "midsummer"),
    ("peachy", "millionaire"),
    ("pheasant", "miracle"),
    ("physique", "misnomer"),
    ("playhouse", "molasses"),
    ("Pluto", "molecule"),
    ("preclude", "Montana"),
    ("prefer", "monument"),
    ("preshrunk", "mosquito"),
    ("printer", "narrative"),
    ("prowler", "nebula"),
    ("pupil", "newsletter"),
    ("puppy", "Norwegian"),
    ("python", "October"),
    ("quadrant", "Ohio"),
    ("quiver", "onlooker"),
    ("quota", "opulent"),
    ("ragtime", "Orlando"),
    ("ratchet", "outfielder"),
    ("rebirth", "Pacific"),
    ("reform", "pandemic"),
    ("regain", "Pandora"),
    ("reindeer", "paperweight"),
    ("rematch", "paragon"),
    ("repay", "paragraph"),
    ("retouch", "paramount"),
    ("revenge", "passenger"),
    ("reward", "pedigree"),
    ("rhythm", "Pegasus"),
    ("ribcage", "penetrate"),
    ("ringbolt", "perceptive"),
    ("robust", "performance"),
    ("rocker", "pharmacy"),
    ("ruffled", "phonetic"),
    ("sailboat", "photograph"),
    ("sawdust", "pioneer"),
    ("scallion", "pocketful"),
    ("scenic", "politeness"),
    ("scorecard", "positive"),
    ("Scotland", "potato"),
    ("seabird", "processor"),
    ("select", "provincial"),
    ("sentence", "proximate"),
    ("shadow", "puberty"),
    ("shamrock", "publisher"),
    ("showgirl", "pyramid"),
    ("skullcap", "quantity"),
    ("skydive", "racketeer"),
    ("slingshot", "rebellion"),
    ("slowdown", "recipe"),
    ("snapline", "recover"),
    ("snapshot", "repellent"),
    ("snowcap", "replica"),
    ("snowslide", "reproduce"),
    ("solo", "resistor"),
    ("southward", "responsive"),
    ("soybean", "retraction"),
    ("spaniel", "retrieval"),
    ("spearhead", "retrospect"),
    ("spellbind", "revenue"),
    ("spheroid", "revival"),
    ("spigot", "revolver"),
    ("spindle", "sandalwood"),
    ("spyglass", "sardonic"),
    ("stagehand", "Saturday"),
    ("stagnate", "savagery"),
    ("stairway", "scavenger"),
    ("standard", "sensation"),
    ("stapler", "sociable"),
    ("steamship", "souvenir"),
    ("sterling", "specialist"),
    ("stockman", "speculate"),
    ("stopwatch", "stethoscope"),
    ("stormy", "stupendous"),
    ("sugar", "supportive"),
    ("surmount", "surrender"),
    ("suspense", "suspicious"),
    ("sweatband", "sympathy"),
    ("swelter", "tambourine"),
    ("tactics", "telephone"),
    ("talon", "therapist"),
    ("tapeworm", "tobacco"),
    ("tempest", "tolerance"),
    ("tiger", "tomorrow"),
    ("tissue", "torpedo"),
    ("tonic", "tradition"),
    ("topmost", "travesty"),
    ("tracker", "trombonist"),
    ("transit", "truncated"),
    ("trauma", "typewriter"),
    ("treadmill", "ultimate"),
    ("Trojan", "undaunted"),
    ("trouble", "underfoot"),
    ("tumor", "unicorn"),
    ("tunnel", "unify"),
    ("tycoon", "universe"),
    ("uncut", "unravel"),
    ("unearth", "upcoming"),
    ("unwind", "vacancy"),
    ("uproot", "vagabond"),
    ("upset", "vertigo"),
    ("upshot", "Virginia"),
    ("vapor", "visitor"),
    ("village", "vocalist"),
    ("virus", "voyager"),
    ("Vulcan", "warranty"),
    ("waffle", "Waterloo"),
    ("wallet", "whimsical"),
    ("watchword", "Wichita"),
    ("wayside", "Wilmington"),
    ("willow", "Wyoming"),
    ("woodlark", "yesteryear"),
    ("Zulu", "Yucatan"),
];

/// The PGP words for `bytes`, separated by single spaces.
pub fn pgp_words(bytes: &[u8]) -> String {
    let mut words = String::with_capacity(bytes.len() * 10);
    for (offset, byte) in bytes.iter().enumerate() {
        if offset > 0 {
            words.push(' ');
        }
        let (even, odd) = WORDS[usize::from(*byte)];
        words.push_str(if offset % 2 == 0 { even } else { odd });
    }
    words
}

/// The PGP words for a digest or fingerprint written in hex (spaces and colons between digits
/// are ignored, as in `AB:CD` fingerprints), or `None` if it is not whole bytes of hex.
pub fn pgp_words_hex(hex: &str) -> Option<String> {
    let digits: String = hex.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    hex::decode(digits).ok().map(|bytes| pgp_words(&bytes))
}

/// Words on a printed line: a 32-byte digest takes four lines, each in an 80-column terminal.
const PER_LINE: usize = 8;

/// `label: HEX` on one line, then `HEX`'s PGP words eight to a line, indented two more: every
/// line begins with `indent`. A value that is not hex (none the library gives) has no words.
pub fn digest_lines(indent: &str, label: &str, hex: &str) -> Vec<String> {
    let mut lines = vec![format!("{indent}{label}: {hex}")];
    if let Some(words) = pgp_words_hex(hex) {
        let words: Vec<&str> = words.split(' ').collect();
        lines.extend(
            words
                .chunks(PER_LINE)
                .map(|chunk| format!("{indent}  {}", chunk.join(" "))),
        );
    }
    lines
}

/// The PGP words of a short value (a 3-byte KCV) for the same line, or nothing.
pub fn inline_words(hex: &str) -> String {
    pgp_words_hex(hex)
        .filter(|words| !words.is_empty())
        .map(|words| format!(" [{words}]"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_of_iana_and_wikipedia() {
        // iana-org/dnssec-keytools, src/kskm/common/tests/test_wordlist.py: SHA-256 digests.
        assert_eq!(
            pgp_words_hex("d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
                .as_deref(),
            Some(
                "stopwatch paramount watchword pocketful ahead stethoscope merit molecule gazelle \
                 revenue pupil pyramid ruffled antenna buzzard document optic escapade drunken \
                 tradition goggles crossover suspense impetus button aftermath stagnate \
                 rebellion clamshell retrospect topmost misnomer"
            )
        );
        assert_eq!(
            pgp_words_hex("8d9eadc1f305d46f1f203886aa5df98f1ed62fcbacc23d2f6732d24d928703e8")
                .as_deref(),
            Some(
                "optic onlooker ringbolt recover upset almighty steamship hemisphere billiard \
                 butterfat classic letterhead reward filament waffle midsummer berserk \
                 speculate cement revival ribcage repellent commence combustion freedom \
                 component standard disruptive physique liberty acme typewriter"
            )
        );
        // Wikipedia, "PGP word list": a fingerprint as it is printed, spaces and all.
        assert_eq!(
            pgp_words_hex("E582 94F2 E9A2 2748 6E8B 061B 31CC 528F D7FA 3F19").as_deref(),
            Some(
                "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish \
                 Medusa afflict bravado chatter revolver Dupont midsummer stopwatch whimsical \
                 cowbell bottomless"
            )
        );
        assert_eq!(
            pgp_words(&[0x00, 0x00, 0xff, 0xff]),
            "aardvark adroitness Zulu Yucatan"
        );
        assert_eq!(pgp_words(&[]), "");
        assert_eq!(pgp_words_hex("abc"), None);
        assert_eq!(pgp_words_hex("zz"), None);
    }

    #[test]
    fn the_table_is_the_published_list() {
        // The even list is in alphabetical order, and all 512 words differ.
        for pair in WORDS.windows(2) {
            assert!(
                pair[0].0.to_lowercase() < pair[1].0.to_lowercase(),
                "{pair:?}"
            );
        }
        let mut all: Vec<String> = WORDS
            .iter()
            .flat_map(|(even, odd)| [even.to_lowercase(), odd.to_lowercase()])
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 512);
        // A second copy of the list, typed independently from Wikipedia (the `pgp-words`
        // crate, lower case): the same word for every byte at both offsets.
        for byte in 0..=255u8 {
            let bytes = [byte, byte];
            let theirs = pgp_words::to_words(&bytes);
            let ours = pgp_words(&bytes).to_lowercase();
            assert_eq!(ours, theirs.join(" "), "byte {byte:#04x}");
        }
    }

    #[test]
    fn a_digest_is_its_hex_then_its_words_eight_to_a_line() {
        let hex = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592";
        let lines = digest_lines("  ", "Plan digest", hex);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], format!("  Plan digest: {hex}"));
        assert_eq!(
            lines[1],
            "    stopwatch paramount watchword pocketful ahead stethoscope merit molecule"
        );
        assert!(lines[4].ends_with("retrospect topmost misnomer"));
        assert!(lines.iter().all(|l| l.chars().count() <= 80));
        assert_eq!(inline_words("cc7f36"), " [spigot integrate Christmas]");
        assert_eq!(inline_words("none"), "");
    }
}
