// examples/translator/corpus.cpp — the English→French grammar and the corpus splits (corpus.h).
//
// A sentence is built as two word lists side by side, English and French, from one template
// and one random choice of each slot. French words are written in their full form ("je aime",
// "de le pain") and two passes at the end apply elision ("j'aime") and contraction ("du pain"),
// the way a French speaker would, so the tables stay free of special cases.
#include "examples/translator/corpus.h"

#include <algorithm>
#include <array>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/error.h"
#include "engine/random.h"

namespace translator {

namespace {

using Words = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// The lexicon. French forms that vary are listed as {masculine singular, feminine singular,
// masculine plural, feminine plural}.

using Forms = std::array<const char*, 4>;

int form_index(bool feminine, bool plural) { return (plural ? 2 : 0) + (feminine ? 1 : 0); }

struct Subject {
  const char* english;
  const char* french;
  int person;  // 1, 2 or 3
  bool plural, feminine;
  // Être and avoir inverted after the pronoun, for questions: "es-tu" in "où es-tu ?" and
  // "es-tu fatigué ?", "as-tu" in "as-tu faim ?"; nullptr for noun subjects.
  const char* inverted_be;
  const char* inverted_have;
};

// "i", "you", "we" take the masculine (the corpus's convention, as in "je suis étudiant");
// feminine plural comes from noun subjects. "you" is tu and "you all" vous.
constexpr Subject kSubjects[] = {
    {"i", "je", 1, false, false, "suis-je", "ai-je"},
    {"you", "tu", 2, false, false, "es-tu", "as-tu"},
    {"he", "il", 3, false, false, "est-il", "a-t-il"},
    {"she", "elle", 3, false, true, "est-elle", "a-t-elle"},
    {"we", "nous", 1, true, false, "sommes-nous", "avons-nous"},
    {"you all", "vous", 2, true, false, "êtes-vous", "avez-vous"},
    {"they", "ils", 3, true, false, "sont-ils", "ont-ils"},
    {"my brother", "mon frère", 3, false, false, nullptr, nullptr},
    {"my sister", "ma sœur", 3, false, true, nullptr, nullptr},
    {"my father", "mon père", 3, false, false, nullptr, nullptr},
    {"my mother", "ma mère", 3, false, true, nullptr, nullptr},
    {"the boy", "le garçon", 3, false, false, nullptr, nullptr},
    {"the girl", "la fille", 3, false, true, nullptr, nullptr},
    {"the man", "le homme", 3, false, false, nullptr, nullptr},
    {"the woman", "la femme", 3, false, true, nullptr, nullptr},
    {"my parents", "mes parents", 3, true, false, nullptr, nullptr},
    {"my friends", "mes amis", 3, true, false, nullptr, nullptr},
    {"the children", "les enfants", 3, true, false, nullptr, nullptr},
    {"my sisters", "mes sœurs", 3, true, true, nullptr, nullptr},
    {"the girls", "les filles", 3, true, true, nullptr, nullptr},
    {"the women", "les femmes", 3, true, true, nullptr, nullptr},
};
constexpr int64_t kNumPronouns = 7;  // the first seven subjects, the ones that invert
static_assert(kSubjects[kNumPronouns - 1].inverted_be != nullptr && kSubjects[kNumPronouns].inverted_be == nullptr);

// Index = (person - 1) + 3 * plural.
constexpr std::array<const char*, 6> kEtre = {"suis", "es", "est", "sommes", "êtes", "sont"};
constexpr std::array<const char*, 6> kAvoir = {"ai", "as", "a", "avons", "avez", "ont"};

int person_index(int person, bool plural) { return person - 1 + (plural ? 3 : 0); }

const char* english_be(int person, bool plural) {
  return person == 1 && !plural ? "am" : person == 3 && !plural ? "is" : "are";
}

struct Adjective {
  const char* english;
  Forms french;
};

// Adjectives for people after "être".
constexpr Adjective kPersonAdjectives[] = {
    {"happy", {"heureux", "heureuse", "heureux", "heureuses"}},
    {"glad", {"content", "contente", "contents", "contentes"}},
    {"tired", {"fatigué", "fatiguée", "fatigués", "fatiguées"}},
    {"sad", {"triste", "triste", "tristes", "tristes"}},
    {"busy", {"occupé", "occupée", "occupés", "occupées"}},
    {"ready", {"prêt", "prête", "prêts", "prêtes"}},
    {"sick", {"malade", "malade", "malades", "malades"}},
    {"rich", {"riche", "riche", "riches", "riches"}},
    {"poor", {"pauvre", "pauvre", "pauvres", "pauvres"}},
    {"young", {"jeune", "jeune", "jeunes", "jeunes"}},
    {"old", {"vieux", "vieille", "vieux", "vieilles"}},
    {"tall", {"grand", "grande", "grands", "grandes"}},
    {"short", {"petit", "petite", "petits", "petites"}},
    {"strong", {"fort", "forte", "forts", "fortes"}},
    {"kind", {"gentil", "gentille", "gentils", "gentilles"}},
    {"angry", {"fâché", "fâchée", "fâchés", "fâchées"}},
    {"lazy", {"paresseux", "paresseuse", "paresseux", "paresseuses"}},
    {"shy", {"timide", "timide", "timides", "timides"}},
    {"smart", {"intelligent", "intelligente", "intelligents", "intelligentes"}},
    {"sure", {"sûr", "sûre", "sûrs", "sûres"}},
    {"proud", {"fier", "fière", "fiers", "fières"}},
    {"curious", {"curieux", "curieuse", "curieux", "curieuses"}},
    {"nervous", {"nerveux", "nerveuse", "nerveux", "nerveuses"}},
    {"jealous", {"jaloux", "jalouse", "jaloux", "jalouses"}},
    {"calm", {"calme", "calme", "calmes", "calmes"}},
    {"funny", {"drôle", "drôle", "drôles", "drôles"}},
    {"serious", {"sérieux", "sérieuse", "sérieux", "sérieuses"}},
    {"polite", {"poli", "polie", "polis", "polies"}},
    {"married", {"marié", "mariée", "mariés", "mariées"}},
    {"lost", {"perdu", "perdue", "perdus", "perdues"}},
    {"surprised", {"surpris", "surprise", "surpris", "surprises"}},
    {"late", {"en retard", "en retard", "en retard", "en retard"}},
    {"famous", {"célèbre", "célèbre", "célèbres", "célèbres"}},
};

struct Adverb {
  const char* english;
  const char* french;
};
constexpr Adverb kAdverbs[] = {{"very", "très"}, {"really", "vraiment"}, {"too", "trop"}};

// "i am hungry" -> "j'ai faim": English adjectives that are "avoir" + noun in French.
struct Idiom {
  const char* english;
  const char* french;
  bool takes_adverb;  // "j'ai très faim", but not "j'ai très raison"
};
constexpr Idiom kIdioms[] = {
    {"hungry", "faim", true}, {"thirsty", "soif", true}, {"cold", "froid", true}, {"hot", "chaud", true},
    {"afraid", "peur", true}, {"sleepy", "sommeil", true}, {"right", "raison", false}, {"wrong", "tort", false},
};

struct Profession {
  const char* english;
  const char* english_plural;
  Forms french;
};
// After "être" French drops the article: "je suis étudiant".
constexpr Profession kProfessions[] = {
    {"student", "students", {"étudiant", "étudiante", "étudiants", "étudiantes"}},
    {"teacher", "teachers", {"professeur", "professeure", "professeurs", "professeures"}},
    {"doctor", "doctors", {"médecin", "médecin", "médecins", "médecins"}},
    {"nurse", "nurses", {"infirmier", "infirmière", "infirmiers", "infirmières"}},
    {"lawyer", "lawyers", {"avocat", "avocate", "avocats", "avocates"}},
    {"cook", "cooks", {"cuisinier", "cuisinière", "cuisiniers", "cuisinières"}},
    {"baker", "bakers", {"boulanger", "boulangère", "boulangers", "boulangères"}},
    {"singer", "singers", {"chanteur", "chanteuse", "chanteurs", "chanteuses"}},
    {"actor", "actors", {"acteur", "actrice", "acteurs", "actrices"}},
    {"writer", "writers", {"écrivain", "écrivaine", "écrivains", "écrivaines"}},
    {"journalist", "journalists", {"journaliste", "journaliste", "journalistes", "journalistes"}},
    {"farmer", "farmers", {"fermier", "fermière", "fermiers", "fermières"}},
    {"engineer", "engineers", {"ingénieur", "ingénieure", "ingénieurs", "ingénieures"}},
    {"musician", "musicians", {"musicien", "musicienne", "musiciens", "musiciennes"}},
    {"dentist", "dentists", {"dentiste", "dentiste", "dentistes", "dentistes"}},
    {"waiter", "waiters", {"serveur", "serveuse", "serveurs", "serveuses"}},
    {"police officer", "police officers", {"policier", "policière", "policiers", "policières"}},
    {"painter", "painters", {"peintre", "peintre", "peintres", "peintres"}},
    {"pianist", "pianists", {"pianiste", "pianiste", "pianistes", "pianistes"}},
};

// Noun categories: which verbs and adjectives make sense with a noun.
enum Category : unsigned {
  kFood = 1u << 0,
  kAnimal = 1u << 1,
  kThing = 1u << 2,      // small things one can carry
  kFurniture = 1u << 3,  // things that stay put
  kAudio = 1u << 4,
  kScreen = 1u << 5,
  kPlace = 1u << 6,
  kOpenable = 1u << 7,
  kContainer = 1u << 8,
};

struct Noun {
  const char* english;
  const char* english_plural;  // nullptr: uncountable ("bread")
  const char* french;
  const char* french_plural;
  bool feminine;
  unsigned categories;
};

constexpr Noun kNouns[] = {
    // food
    {"apple", "apples", "pomme", "pommes", true, kFood},
    {"cake", "cakes", "gâteau", "gâteaux", false, kFood},
    {"bread", nullptr, "pain", nullptr, false, kFood},
    {"orange", "oranges", "orange", "oranges", true, kFood},
    {"cheese", nullptr, "fromage", nullptr, false, kFood},
    {"soup", nullptr, "soupe", nullptr, true, kFood},
    {"chicken", nullptr, "poulet", nullptr, false, kFood},
    {"pizza", "pizzas", "pizza", "pizzas", true, kFood},
    {"banana", "bananas", "banane", "bananes", true, kFood},
    {"egg", "eggs", "œuf", "œufs", false, kFood},
    {"strawberry", "strawberries", "fraise", "fraises", true, kFood},
    {"tomato", "tomatoes", "tomate", "tomates", true, kFood},
    {"sandwich", "sandwiches", "sandwich", "sandwichs", false, kFood},
    {"cookie", "cookies", "biscuit", "biscuits", false, kFood},
    {"carrot", "carrots", "carotte", "carottes", true, kFood},
    {"pear", "pears", "poire", "poires", true, kFood},
    {"lemon", "lemons", "citron", "citrons", false, kFood},
    // animals
    {"cat", "cats", "chat", "chats", false, kAnimal},
    {"dog", "dogs", "chien", "chiens", false, kAnimal},
    {"bird", "birds", "oiseau", "oiseaux", false, kAnimal},
    {"horse", "horses", "cheval", "chevaux", false, kAnimal},
    {"cow", "cows", "vache", "vaches", true, kAnimal},
    {"mouse", "mice", "souris", "souris", true, kAnimal},
    {"rabbit", "rabbits", "lapin", "lapins", false, kAnimal},
    {"duck", "ducks", "canard", "canards", false, kAnimal},
    {"elephant", "elephants", "éléphant", "éléphants", false, kAnimal},
    {"pig", "pigs", "cochon", "cochons", false, kAnimal},
    // things
    {"book", "books", "livre", "livres", false, kThing | kOpenable},
    {"letter", "letters", "lettre", "lettres", true, kThing | kOpenable},
    {"key", "keys", "clé", "clés", true, kThing},
    {"bag", "bags", "sac", "sacs", false, kThing | kOpenable | kContainer},
    {"phone", "phones", "téléphone", "téléphones", false, kThing},
    {"umbrella", "umbrellas", "parapluie", "parapluies", false, kThing | kOpenable},
    {"pen", "pens", "stylo", "stylos", false, kThing},
    {"computer", "computers", "ordinateur", "ordinateurs", false, kThing},
    {"bike", "bikes", "vélo", "vélos", false, kThing},
    {"car", "cars", "voiture", "voitures", true, kThing},
    {"hat", "hats", "chapeau", "chapeaux", false, kThing},
    {"dress", "dresses", "robe", "robes", true, kThing},
    {"shirt", "shirts", "chemise", "chemises", true, kThing},
    {"box", "boxes", "boîte", "boîtes", true, kThing | kOpenable | kContainer},
    {"cup", "cups", "tasse", "tasses", true, kThing | kContainer},
    {"glass", "glasses", "verre", "verres", false, kThing | kContainer},
    {"plate", "plates", "assiette", "assiettes", true, kThing | kContainer},
    {"lamp", "lamps", "lampe", "lampes", true, kThing},
    {"watch", "watches", "montre", "montres", true, kThing},
    {"map", "maps", "carte", "cartes", true, kThing},
    {"gift", "gifts", "cadeau", "cadeaux", false, kThing},
    {"ball", "balls", "ballon", "ballons", false, kThing},
    {"guitar", "guitars", "guitare", "guitares", true, kThing},
    {"picture", "pictures", "photo", "photos", true, kThing},
    {"newspaper", "newspapers", "journal", "journaux", false, kThing},
    // furniture
    {"chair", "chairs", "chaise", "chaises", true, kFurniture},
    {"table", "tables", "table", "tables", true, kFurniture},
    {"bed", "beds", "lit", "lits", false, kFurniture},
    {"door", "doors", "porte", "portes", true, kFurniture | kOpenable},
    {"window", "windows", "fenêtre", "fenêtres", true, kFurniture | kOpenable},
    // things to listen to and to watch
    {"radio", "radios", "radio", "radios", true, kAudio},
    {"song", "songs", "chanson", "chansons", true, kAudio},
    {"movie", "movies", "film", "films", false, kScreen},
    {"television", nullptr, "télévision", nullptr, true, kScreen},
    // places
    {"house", "houses", "maison", "maisons", true, kPlace},
    {"city", "cities", "ville", "villes", true, kPlace},
    {"museum", "museums", "musée", "musées", false, kPlace},
    {"school", "schools", "école", "écoles", true, kPlace},
    {"church", "churches", "église", "églises", true, kPlace},
    {"hotel", "hotels", "hôtel", "hôtels", false, kPlace},
    {"park", "parks", "parc", "parcs", false, kPlace},
    {"garden", "gardens", "jardin", "jardins", false, kPlace},
    {"castle", "castles", "château", "châteaux", false, kPlace},
    {"station", "stations", "gare", "gares", true, kPlace},
    {"library", "libraries", "bibliothèque", "bibliothèques", true, kPlace},
    {"village", "villages", "village", "villages", false, kPlace},
};

struct Verb {
  const char* english;        // base form, may be two words ("listen to")
  const char* english_third;  // he/she form
  const char* stem;           // French stem: parl(er)
  const char* strong_stem;    // for je/tu/il/ils when the stem changes (j'achète), else nullptr
  const char* nous_form;      // when nous differs from stem + "ons" (mangeons), else nullptr
  unsigned objects;           // noun categories it takes
  bool appreciative;          // like/love/hate/prefer: "j'aime les pommes" (generic definite)
};

// Present-tense -er verbs (and ouvrir, which conjugates like them in the present).
constexpr Verb kVerbs[] = {
    {"like", "likes", "aim", nullptr, nullptr, kFood | kAnimal | kAudio | kScreen | kPlace | kThing, true},
    {"love", "loves", "ador", nullptr, nullptr, kFood | kAnimal | kAudio | kScreen | kPlace, true},
    {"hate", "hates", "détest", nullptr, nullptr, kFood | kAnimal | kAudio | kScreen, true},
    {"prefer", "prefers", "préfér", "préfèr", nullptr, kFood | kAnimal | kScreen, true},
    {"look at", "looks at", "regard", nullptr, nullptr, kAnimal | kThing | kFurniture | kPlace, false},
    {"watch", "watches", "regard", nullptr, nullptr, kScreen, false},
    {"listen to", "listens to", "écout", nullptr, nullptr, kAudio, false},
    {"look for", "looks for", "cherch", nullptr, nullptr, kAnimal | kThing | kPlace, false},
    {"find", "finds", "trouv", nullptr, nullptr, kAnimal | kThing, false},
    {"buy", "buys", "achet", "achèt", nullptr, kFood | kAnimal | kThing | kFurniture, false},
    {"eat", "eats", "mang", nullptr, "mangeons", kFood, false},
    {"prepare", "prepares", "prépar", nullptr, nullptr, kFood, false},
    {"cook", "cooks", "cuisin", nullptr, nullptr, kFood, false},
    {"taste", "tastes", "goût", nullptr, nullptr, kFood, false},
    {"share", "shares", "partag", nullptr, "partageons", kFood | kThing, false},
    {"bring", "brings", "apport", nullptr, nullptr, kFood | kThing, false},
    {"carry", "carries", "port", nullptr, nullptr, kThing | kAnimal, false},
    {"keep", "keeps", "gard", nullptr, nullptr, kThing | kAnimal, false},
    {"wash", "washes", "lav", nullptr, nullptr, kThing | kAnimal | kFurniture, false},
    {"fix", "fixes", "répar", nullptr, nullptr, kThing | kFurniture, false},
    {"break", "breaks", "cass", nullptr, nullptr, kThing | kFurniture, false},
    {"use", "uses", "utilis", nullptr, nullptr, kThing, false},
    {"borrow", "borrows", "emprunt", nullptr, nullptr, kThing, false},
    {"show", "shows", "montr", nullptr, nullptr, kThing | kAnimal, false},
    {"forget", "forgets", "oubli", nullptr, nullptr, kThing, false},
    {"draw", "draws", "dessin", nullptr, nullptr, kAnimal | kThing | kFurniture | kPlace, false},
    {"visit", "visits", "visit", nullptr, nullptr, kPlace, false},
    {"leave", "leaves", "quitt", nullptr, nullptr, kPlace, false},
    {"close", "closes", "ferm", nullptr, nullptr, kOpenable, false},
    {"open", "opens", "ouvr", nullptr, nullptr, kOpenable, false},
    {"catch", "catches", "attrap", nullptr, nullptr, kAnimal, false},
    {"touch", "touches", "touch", nullptr, nullptr, kAnimal | kThing | kFurniture, false},
    {"order", "orders", "command", nullptr, nullptr, kFood, false},
    {"throw", "throws", "lanc", nullptr, "lançons", kThing, false},
    {"replace", "replaces", "remplac", nullptr, "remplaçons", kThing | kFurniture, false},
};
// "have" in the object templates, with avoir's own conjugation.
constexpr Verb kHave = {"have", "has", nullptr, nullptr, nullptr, kFood | kAnimal | kThing, false};

// Adjectives for things, animals and places, with the categories they fit.
struct ThingAdjective {
  const char* english;
  Forms french;
  unsigned fits;
  bool colour;  // colours may also follow the noun: "une voiture rouge"
};
constexpr ThingAdjective kThingAdjectives[] = {
    {"big", {"grand", "grande", "grands", "grandes"}, kAnimal | kThing | kFurniture | kPlace, false},
    {"small", {"petit", "petite", "petits", "petites"}, kAnimal | kThing | kFurniture | kPlace | kFood, false},
    {"old", {"vieux", "vieille", "vieux", "vieilles"}, kAnimal | kThing | kFurniture | kPlace, false},
    {"new", {"neuf", "neuve", "neufs", "neuves"}, kThing | kFurniture, false},
    {"beautiful", {"beau", "belle", "beaux", "belles"}, kAnimal | kThing | kFurniture | kPlace, false},
    {"expensive", {"cher", "chère", "chers", "chères"}, kThing | kFurniture | kFood, false},
    {"heavy", {"lourd", "lourde", "lourds", "lourdes"}, kThing | kFurniture, false},
    {"clean", {"propre", "propre", "propres", "propres"}, kAnimal | kThing | kFurniture | kPlace, false},
    {"dirty", {"sale", "sale", "sales", "sales"}, kAnimal | kThing | kFurniture | kPlace, false},
    {"broken", {"cassé", "cassée", "cassés", "cassées"}, kThing | kFurniture, false},
    {"empty", {"vide", "vide", "vides", "vides"}, kContainer, false},
    {"full", {"plein", "pleine", "pleins", "pleines"}, kContainer, false},
    {"open", {"ouvert", "ouverte", "ouverts", "ouvertes"}, kOpenable, false},
    {"closed", {"fermé", "fermée", "fermés", "fermées"}, kOpenable, false},
    {"good", {"bon", "bonne", "bons", "bonnes"}, kFood, false},
    {"delicious", {"délicieux", "délicieuse", "délicieux", "délicieuses"}, kFood, false},
    {"fresh", {"frais", "fraîche", "frais", "fraîches"}, kFood, false},
    {"red", {"rouge", "rouge", "rouges", "rouges"}, kThing | kFurniture | kFood, true},
    {"green", {"vert", "verte", "verts", "vertes"}, kThing | kFurniture | kFood, true},
    {"blue", {"bleu", "bleue", "bleus", "bleues"}, kThing | kFurniture, true},
    {"yellow", {"jaune", "jaune", "jaunes", "jaunes"}, kThing | kFurniture | kFood, true},
    {"black", {"noir", "noire", "noirs", "noires"}, kThing | kFurniture | kAnimal, true},
    {"white", {"blanc", "blanche", "blancs", "blanches"}, kThing | kFurniture | kAnimal, true},
    {"grey", {"gris", "grise", "gris", "grises"}, kThing | kFurniture | kAnimal, true},
    {"brown", {"marron", "marron", "marron", "marron"}, kThing | kFurniture | kAnimal, true},
};

struct Preposition {
  const char* english;
  const char* french;  // "de" and "à" contract with le/les: près du jardin, au musée
};
enum PrepositionMask : unsigned { kOn = 1, kUnder = 2, kIn = 4, kBehind = 8, kInFront = 16, kNear = 32, kAt = 64 };
constexpr Preposition kPrepositions[] = {{"on", "sur"},        {"under", "sous"},         {"in", "dans"},
                                         {"behind", "derrière"}, {"in front of", "devant"}, {"near", "près de"},
                                         {"at", "à"}};

struct Place {
  const char* english;
  const char* french;
  bool feminine;
  unsigned prepositions;  // PrepositionMask bits that make sense
};
constexpr Place kPlaces[] = {
    {"table", "table", true, kOn | kUnder | kNear | kBehind | kInFront},
    {"chair", "chaise", true, kOn | kUnder | kNear | kBehind | kInFront},
    {"bed", "lit", false, kOn | kUnder | kNear},
    {"box", "boîte", true, kIn | kOn | kUnder | kNear | kBehind},
    {"bag", "sac", false, kIn | kNear},
    {"car", "voiture", true, kIn | kUnder | kBehind | kInFront | kNear},
    {"house", "maison", true, kIn | kBehind | kInFront | kNear},
    {"garden", "jardin", false, kIn | kNear},
    {"tree", "arbre", false, kUnder | kBehind | kInFront | kNear},
    {"door", "porte", true, kBehind | kInFront | kNear},
    {"window", "fenêtre", true, kInFront | kNear},
    {"kitchen", "cuisine", true, kIn},
    {"bedroom", "chambre", true, kIn},
    {"station", "gare", true, kAt | kNear | kInFront},
    {"museum", "musée", false, kAt | kNear | kInFront},
    {"hotel", "hôtel", false, kAt | kNear | kInFront},
    {"park", "parc", false, kAt | kIn | kNear},
    {"school", "école", true, kAt | kNear | kInFront},
    {"library", "bibliothèque", true, kAt | kNear},
};

struct Number {
  const char* english;
  const char* french;
};
constexpr Number kCounts[] = {{"two", "deux"},   {"three", "trois"}, {"four", "quatre"},
                              {"five", "cinq"},  {"six", "six"},     {"seven", "sept"},
                              {"eight", "huit"}, {"nine", "neuf"},   {"ten", "dix"}};
constexpr Number kAges[] = {{"ten", "dix"},          {"eleven", "onze"},      {"twelve", "douze"},
                            {"thirteen", "treize"},   {"fourteen", "quatorze"}, {"fifteen", "quinze"},
                            {"sixteen", "seize"},     {"seventeen", "dix-sept"}, {"eighteen", "dix-huit"},
                            {"nineteen", "dix-neuf"}, {"twenty", "vingt"},     {"thirty", "trente"},
                            {"forty", "quarante"},    {"fifty", "cinquante"},  {"sixty", "soixante"}};

// "where are you now ?" -> "où es-tu maintenant ?"
constexpr Adverb kTimes[] = {
    {"now", "maintenant"}, {"today", "aujourd'hui"}, {"tonight", "ce soir"}, {"this morning", "ce matin"}};

// ---------------------------------------------------------------------------------------------
// French spelling rules applied to a finished word list.

bool starts_with_vowel_sound(const std::string& word) {
  // No h aspiré or numeral exceptions are needed beyond "huit" and "onze" for this vocabulary.
  if (word.starts_with("huit") || word.starts_with("onze")) return false;
  static const char* const kVowels[] = {"a", "e", "i", "o", "u", "h", "à", "â", "ä", "é", "è",
                                        "ê", "ë", "î", "ï", "ô", "ö", "û", "ù", "ü", "œ", "æ"};
  return std::any_of(std::begin(kVowels), std::end(kVowels), [&](const char* v) { return word.starts_with(v); });
}

// je aime -> j'aime, ne ai -> n'ai, le arbre -> l'arbre, de ordinateur -> d'ordinateur; then
// de le -> du, de les -> des, à le -> au, à les -> aux.
Words apply_elision_and_contraction(const Words& words) {
  static const std::unordered_set<std::string> kElidable = {"je", "ne", "de", "le", "la", "me", "te", "se", "que"};
  Words elided;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i + 1 < words.size() && kElidable.count(words[i]) && starts_with_vowel_sound(words[i + 1])) {
      elided.push_back(words[i].substr(0, words[i].size() - 1) + "'" + words[i + 1]);
      ++i;
    } else {
      elided.push_back(words[i]);
    }
  }
  Words contracted;
  for (size_t i = 0; i < elided.size(); ++i) {
    const bool next_le = i + 1 < elided.size() && elided[i + 1] == "le";
    const bool next_les = i + 1 < elided.size() && elided[i + 1] == "les";
    if (elided[i] == "de" && (next_le || next_les)) {
      contracted.push_back(next_le ? "du" : "des");
      ++i;
    } else if (elided[i] == "à" && (next_le || next_les)) {
      contracted.push_back(next_le ? "au" : "aux");
      ++i;
    } else {
      contracted.push_back(elided[i]);
    }
  }
  return contracted;
}

// "an" before a vowel letter (good enough for this vocabulary: an apple, a red apple).
const char* english_article(const std::string& next_word) {
  return !next_word.empty() && std::string_view("aeiou").find(next_word[0]) != std::string_view::npos ? "an" : "a";
}

// ---------------------------------------------------------------------------------------------
// Sentence building.

struct Sentence {
  Words english, french;  // entries may hold several words ("my brother"); split when joined
  std::vector<std::string> combinations;

  void add(const std::string& en, const std::string& fr) {
    if (!en.empty()) english.push_back(en);
    if (!fr.empty()) french.push_back(fr);
  }
};

std::string combination(const char* kind, const std::string& a, const std::string& b) {
  return fmt::format("{}: {} | {}", kind, a, b);
}

class Builder {
 public:
  explicit Builder(uint64_t seed) : gen_(seed) {}

  int64_t pick(int64_t n) { return gen_.randint(n); }
  bool chance(double p) { return gen_.next_double() < p; }
  template <class T, size_t N>
  const T& choose(const T (&table)[N]) {
    return table[pick(static_cast<int64_t>(N))];
  }
  tessera::Generator& generator() { return gen_; }

  Sentence make() {
    // Template weights, roughly by how many distinct sentences each can make.
    constexpr double kWeights[] = {0.08, 0.15, 0.07, 0.11, 0.27, 0.12, 0.10, 0.06, 0.04};
    double u = gen_.next_double() * 1.0;
    int which = 0;
    for (; which < 8 && u >= kWeights[which]; ++which) u -= kWeights[which];
    switch (which) {
      case 0: return profession();
      case 1: return person_adjective();
      case 2: return idiom_or_age();
      case 3: return object_sentence(kHave);
      case 4: return object_sentence(choose(kVerbs));
      case 5: return thing_adjective();
      case 6: return location();
      case 7: return question();
      default: return where();
    }
  }

 private:
  // "i am" / "je suis", with "not"/"ne ... pas" around the verb when negated.
  static void be(Sentence& s, const char* subject_en, const char* subject_fr, int person, bool plural, bool negated) {
    s.add(subject_en, subject_fr);
    s.add(english_be(person, plural), negated ? "ne" : "");
    s.add(negated ? "not" : "", kEtre[person_index(person, plural)]);
    if (negated) s.add("", "pas");
  }

  void adverb(Sentence& s) {
    if (chance(0.45)) {
      const Adverb& a = choose(kAdverbs);
      s.add(a.english, a.french);
    }
  }

  Sentence profession() {
    const Subject& subject = choose(kSubjects);
    const Profession& p = choose(kProfessions);
    Sentence s;
    be(s, subject.english, subject.french, subject.person, subject.plural, chance(0.3));
    if (subject.plural) {
      s.add(p.english_plural, p.french[form_index(subject.feminine, true)]);
    } else {
      s.add(english_article(p.english), "");
      s.add(p.english, p.french[form_index(subject.feminine, false)]);
    }
    s.add(".", ".");
    s.combinations.push_back(combination("subject+profession", subject.english, p.english));
    return s;
  }

  // "<subject> is (not) (very) <adjective> ." with the adjective agreeing with the subject.
  Sentence be_adjective(const std::string& subject_en, const std::string& subject_fr, int person, bool plural,
                        bool feminine, const char* adjective_en, const Forms& adjective_fr,
                        std::string combination_label) {
    Sentence s;
    be(s, subject_en.c_str(), subject_fr.c_str(), person, plural, chance(0.3));
    adverb(s);
    s.add(adjective_en, adjective_fr[form_index(feminine, plural)]);
    s.add(".", ".");
    s.combinations.push_back(std::move(combination_label));
    return s;
  }

  Sentence person_adjective() {
    const Subject& subject = choose(kSubjects);
    const Adjective& a = choose(kPersonAdjectives);
    return be_adjective(subject.english, subject.french, subject.person, subject.plural, subject.feminine, a.english,
                        a.french, combination("subject+adjective", subject.english, a.english));
  }

  // "i am hungry" -> "j'ai faim", "i am twenty years old" -> "j'ai vingt ans".
  Sentence idiom_or_age() {
    const Subject& subject = choose(kSubjects);
    const bool negated = chance(0.3);
    Sentence s;
    s.add(subject.english, subject.french);
    s.add(english_be(subject.person, subject.plural), negated ? "ne" : "");
    s.add(negated ? "not" : "", kAvoir[person_index(subject.person, subject.plural)]);
    if (negated) s.add("", "pas");
    if (chance(0.6)) {
      const Idiom& idiom = choose(kIdioms);
      if (idiom.takes_adverb) adverb(s);
      s.add(idiom.english, idiom.french);
      s.combinations.push_back(combination("subject+adjective", subject.english, idiom.english));
    } else {
      const Number& age = choose(kAges);
      s.add(age.english, age.french);
      s.add("years old", "ans");
    }
    s.add(".", ".");
    return s;
  }

  // The object noun phrase: determiner, optional colour, noun — in both languages.
  struct ObjectPhrase {
    Words english, french;
  };
  ObjectPhrase object(const Noun& noun, bool appreciative, bool negated, bool allow_colour) {
    enum { kTheOne, kTheMany, kA, kBarePlural, kCount, kMyOne, kMyMany };
    std::vector<int> options;
    const bool countable = noun.english_plural != nullptr;
    if (countable) {
      options = appreciative ? std::vector<int>{kTheOne, kTheMany, kBarePlural, kMyOne, kMyMany}
                             : std::vector<int>{kTheOne, kTheMany, kA, kBarePlural, kCount, kMyOne, kMyMany};
    } else {
      options = {kTheOne, kBarePlural, kMyOne};  // kBarePlural = "bread": le pain / du pain
    }
    int det = options[pick(static_cast<int64_t>(options.size()))];
    // "de" after a negation is what a negated object teaches: half of them take it, so that even
    // the rarest forms (je ne visite pas d'église) are common enough to be in every corpus.
    if (negated && !appreciative && chance(0.5)) det = countable && chance(0.5) ? kA : kBarePlural;
    const bool plural = countable && (det == kTheMany || det == kBarePlural || det == kCount || det == kMyMany);
    const std::string noun_en = plural ? noun.english_plural : noun.english;
    const std::string noun_fr = plural ? noun.french_plural : noun.french;
    const char* definite = plural ? "les" : noun.feminine ? "la" : "le";

    const ThingAdjective* colour = nullptr;
    if (allow_colour && chance(0.25)) {
      std::vector<const ThingAdjective*> fitting;
      for (const ThingAdjective& a : kThingAdjectives)
        if (a.colour && (a.fits & noun.categories)) fitting.push_back(&a);
      if (!fitting.empty()) colour = fitting[pick(static_cast<int64_t>(fitting.size()))];
    }

    ObjectPhrase phrase;
    const std::string first_en = colour ? colour->english : noun_en;
    switch (det) {
      case kTheOne:
      case kTheMany:
        phrase.english = {"the"};
        phrase.french = {definite};
        break;
      case kA:
        phrase.english = {english_article(first_en)};
        phrase.french = {negated ? "de" : noun.feminine ? "une" : "un"};
        break;
      case kBarePlural:
        if (appreciative) phrase.french = {definite};             // j'aime les pommes, le pain
        else if (negated) phrase.french = {"de"};                  // je ne mange pas de pommes
        else if (plural) phrase.french = {"des"};                  // je mange des pommes
        else phrase.french = {"de", noun.feminine ? "la" : "le"};  // je mange du pain, de la soupe
        break;
      case kCount: {
        const Number& n = choose(kCounts);
        phrase.english = {n.english};
        phrase.french = {n.french};
        break;
      }
      default: {  // my
        phrase.english = {"my"};
        const bool vowel = starts_with_vowel_sound(noun_fr);
        phrase.french = {plural ? "mes" : (noun.feminine && !vowel) ? "ma" : "mon"};  // mon assiette
      }
    }
    if (colour) phrase.english.push_back(colour->english);
    phrase.english.push_back(noun_en);
    phrase.french.push_back(noun_fr);
    if (colour) phrase.french.push_back(colour->french[form_index(noun.feminine, plural)]);
    colour_ = colour;
    return phrase;
  }

  Sentence object_sentence(const Verb& verb) {
    std::vector<const Noun*> fitting;
    for (const Noun& n : kNouns)
      if (n.categories & verb.objects) fitting.push_back(&n);
    const Noun& noun = *fitting[pick(static_cast<int64_t>(fitting.size()))];
    // A pronoun half the time, so that every form of every verb is common: tu, nous and vous
    // have one subject each, against nine for il/elle (je n'adore pas -> nous n'adorons pas).
    const Subject& subject = chance(0.5) ? kSubjects[pick(kNumPronouns)] : choose(kSubjects);
    const bool negated = chance(0.4);
    const bool third_singular = subject.person == 3 && !subject.plural;
    const bool is_have = verb.stem == nullptr;
    const int index = person_index(subject.person, subject.plural);

    std::string french_verb;
    if (is_have) {
      french_verb = kAvoir[index];
    } else {
      static constexpr std::array<const char*, 6> kEndings = {"e", "es", "e", "ons", "ez", "ent"};
      const bool strong = index == 0 || index == 1 || index == 2 || index == 5;
      if (index == 3 && verb.nous_form) french_verb = verb.nous_form;
      else french_verb = std::string(strong && verb.strong_stem ? verb.strong_stem : verb.stem) + kEndings[index];
    }

    Sentence s;
    s.add(subject.english, subject.french);
    if (negated) {
      s.add(third_singular ? "does" : "do", "ne");
      s.add("not", french_verb);
      s.add(verb.english, "pas");
    } else {
      s.add(third_singular ? verb.english_third : verb.english, french_verb);
    }
    const ObjectPhrase phrase = object(noun, verb.appreciative, negated, !verb.appreciative);
    for (const std::string& w : phrase.english) s.add(w, "");
    for (const std::string& w : phrase.french) s.add("", w);
    s.add(".", ".");
    s.combinations.push_back(combination("verb+object", verb.english, noun.english));
    if (colour_) s.combinations.push_back(combination("adjective+noun", colour_->english, noun.english));
    return s;
  }

  // A noun subject for thing sentences: the/my + noun, singular or plural.
  struct NounSubject {
    std::string english, french;
    bool plural;
  };
  NounSubject noun_subject(const Noun& noun) {
    const bool plural = noun.english_plural != nullptr && chance(0.4);
    const bool mine = chance(0.3);
    const std::string fr_noun = plural ? noun.french_plural : noun.french;
    std::string fr_det = plural ? "les" : noun.feminine ? "la" : "le";
    if (mine) fr_det = plural ? "mes" : (noun.feminine && !starts_with_vowel_sound(fr_noun)) ? "ma" : "mon";
    return {std::string(mine ? "my " : "the ") + (plural ? noun.english_plural : noun.english), fr_det + " " + fr_noun,
            plural};
  }

  Sentence thing_adjective() {
    const ThingAdjective& adjective = choose(kThingAdjectives);
    std::vector<const Noun*> fitting;
    for (const Noun& n : kNouns)
      if (n.categories & adjective.fits) fitting.push_back(&n);
    const Noun& noun = *fitting[pick(static_cast<int64_t>(fitting.size()))];
    const NounSubject subject = noun_subject(noun);
    return be_adjective(subject.english, subject.french, 3, subject.plural, noun.feminine, adjective.english,
                        adjective.french, combination("adjective+noun", adjective.english, noun.english));
  }

  // "on the table", "near my house", "at the museum" (contracted later: "au musée"), and its label.
  void place_phrase(Sentence& s) {
    const Place& place = choose(kPlaces);
    std::vector<int> prepositions;
    for (int i = 0; i < 7; ++i)
      if (place.prepositions & (1u << i)) prepositions.push_back(i);
    const Preposition& preposition = kPrepositions[prepositions[pick(static_cast<int64_t>(prepositions.size()))]];
    const bool mine = preposition.english != std::string("at") && chance(0.25);
    s.add(preposition.english, preposition.french);
    const bool vowel = starts_with_vowel_sound(place.french);
    s.add(mine ? "my" : "the", mine ? (place.feminine && !vowel ? "ma" : "mon") : place.feminine ? "la" : "le");
    s.add(place.english, place.french);
    s.combinations.push_back(combination("preposition+place", preposition.english, place.english));
  }

  Sentence location() {
    const bool negated = chance(0.25);
    Sentence s;
    if (chance(0.5)) {
      const Subject& subject = choose(kSubjects);
      be(s, subject.english, subject.french, subject.person, subject.plural, negated);
    } else {
      std::vector<const Noun*> movable;
      for (const Noun& n : kNouns)
        if (n.categories & (kAnimal | kThing)) movable.push_back(&n);
      const NounSubject subject = noun_subject(*movable[pick(static_cast<int64_t>(movable.size()))]);
      be(s, subject.english.c_str(), subject.french.c_str(), 3, subject.plural, negated);
    }
    place_phrase(s);
    s.add(".", ".");
    return s;
  }

  // Yes/no questions with a pronoun subject, which inverts: "are you tired ?" -> "es-tu fatigué ?",
  // "is she a doctor ?" -> "est-elle médecin ?", "are they hungry ?" -> "ont-ils faim ?", "are you
  // at the station ?" -> "es-tu à la gare ?". Besides teaching the questions, they make every
  // inverted form common in training: the where-questions alone have each one in a handful of
  // sentences ("where are you (now) ?"), too few to be learnt.
  Sentence question() {
    const Subject& subject = kSubjects[pick(kNumPronouns)];
    const char* be_en = english_be(subject.person, subject.plural);
    Sentence s;
    const double kind = gen_.next_double();
    if (kind < 0.25) {
      const Idiom& idiom = choose(kIdioms);
      s.add(be_en, subject.inverted_have);
      s.add(subject.english, "");
      if (idiom.takes_adverb) adverb(s);
      s.add(idiom.english, idiom.french);
      s.combinations.push_back(combination("subject+adjective", subject.english, idiom.english));
    } else if (kind < 0.45) {
      s.add(be_en, subject.inverted_be);
      s.add(subject.english, "");
      place_phrase(s);
    } else if (kind < 0.65) {
      const Profession& p = choose(kProfessions);
      s.add(be_en, subject.inverted_be);
      s.add(subject.english, "");
      if (subject.plural) {
        s.add(p.english_plural, p.french[form_index(subject.feminine, true)]);
      } else {
        s.add(english_article(p.english), "");
        s.add(p.english, p.french[form_index(subject.feminine, false)]);
      }
      s.combinations.push_back(combination("subject+profession", subject.english, p.english));
    } else {
      const Adjective& a = choose(kPersonAdjectives);
      s.add(be_en, subject.inverted_be);
      s.add(subject.english, "");
      adverb(s);
      s.add(a.english, a.french[form_index(subject.feminine, subject.plural)]);
      s.combinations.push_back(combination("subject+adjective", subject.english, a.english));
    }
    s.add("?", "?");
    return s;
  }

  // "where is the cat ?" -> "où est le chat ?"; pronouns invert: "where are you ?" -> "où es-tu ?".
  // People (not things) may take a time: "where is my brother today ?", "où es-tu maintenant ?".
  Sentence where() {
    Sentence s;
    s.add("where", "où");
    if (chance(0.4)) {
      const Subject& subject = choose(kSubjects);
      s.add(english_be(subject.person, subject.plural), "");
      if (subject.inverted_be) {
        s.add(subject.english, subject.inverted_be);
      } else {
        s.add(subject.english, kEtre[person_index(3, subject.plural)]);
        s.add("", subject.french);
      }
      if (chance(0.6)) {
        const Adverb& time = choose(kTimes);
        s.add(time.english, time.french);
      }
    } else {
      std::vector<const Noun*> movable;
      for (const Noun& n : kNouns)
        if (n.categories & (kAnimal | kThing)) movable.push_back(&n);
      const NounSubject subject = noun_subject(*movable[pick(static_cast<int64_t>(movable.size()))]);
      s.add(subject.plural ? "are" : "is", kEtre[person_index(3, subject.plural)]);
      s.add(subject.english, subject.french);
    }
    s.add("?", "?");
    return s;
  }

  tessera::Generator gen_;
  const ThingAdjective* colour_ = nullptr;  // the colour the last object() chose, if any
};

std::string join_words(const Words& words) {
  std::string joined;
  for (const std::string& w : words) {
    if (!joined.empty()) joined += ' ';
    joined += w;
  }
  return joined;
}

constexpr uint64_t kHeldOutPerThousand = 70;
constexpr double kValidFraction = 0.05;
constexpr size_t kMinTokens = 3, kMaxTokens = 12;
constexpr size_t kMaxPairs = 200000;
const char* const kClassicCombination = "subject+profession: i | student";

}  // namespace

bool is_held_out(const std::string& combination) {
  return combination != kClassicCombination && fnv1a64(combination) % 1000 < kHeldOutPerThousand;
}

std::vector<std::string> held_out_combinations() {
  std::vector<std::string> all;
  for (const Subject& s : kSubjects) {
    for (const Adjective& a : kPersonAdjectives) all.push_back(combination("subject+adjective", s.english, a.english));
    for (const Idiom& i : kIdioms) all.push_back(combination("subject+adjective", s.english, i.english));
    for (const Profession& p : kProfessions) all.push_back(combination("subject+profession", s.english, p.english));
  }
  for (const Noun& n : kNouns) {
    for (const Verb& v : kVerbs)
      if (v.objects & n.categories) all.push_back(combination("verb+object", v.english, n.english));
    if (kHave.objects & n.categories) all.push_back(combination("verb+object", kHave.english, n.english));
    for (const ThingAdjective& a : kThingAdjectives)
      if (a.fits & n.categories) all.push_back(combination("adjective+noun", a.english, n.english));
  }
  for (const Place& p : kPlaces)
    for (int i = 0; i < 7; ++i)
      if (p.prepositions & (1u << i)) all.push_back(combination("preposition+place", kPrepositions[i].english, p.english));
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::erase_if(all, [](const std::string& c) { return !is_held_out(c); });
  return all;
}

LabelledCorpus generate_en_fr_labelled(uint64_t seed, size_t num_pairs) {
  TS_CHECK(num_pairs >= 1 && num_pairs <= kMaxPairs,
           "generate_en_fr_corpus: num_pairs must be between 1 and {} (the grammar's sentences repeat beyond "
           "that), got {}", kMaxPairs, num_pairs);
  Builder builder(seed);
  std::vector<LabelledPair> pairs;
  std::unordered_set<std::string> seen_english;
  auto accept = [&](const Sentence& s) {
    // Entries may hold several words; re-split so elision sees single words.
    const Words french = apply_elision_and_contraction(tokenize(join_words(s.french)));
    const Words english = tokenize(join_words(s.english));
    if (english.size() < kMinTokens || english.size() > kMaxTokens || french.size() < kMinTokens ||
        french.size() > kMaxTokens)
      return;
    LabelledPair pair{{join_words(english), join_words(french)}, s.combinations};
    if (!seen_english.insert(pair.pair.source).second) return;  // one translation per English sentence
    pairs.push_back(std::move(pair));
  };

  // The classic pair comes first, so it is always there and always in train.
  Sentence classic;
  classic.add("i", "je");
  classic.add("am", "suis");
  classic.add("a", "");
  classic.add("student", "étudiant");
  classic.add(".", ".");
  classic.combinations = {kClassicCombination};
  accept(classic);

  const size_t max_attempts = 20 * num_pairs + 1000;
  for (size_t attempt = 0; pairs.size() < num_pairs && attempt < max_attempts; ++attempt) accept(builder.make());
  TS_CHECK(pairs.size() == num_pairs,
           "generate_en_fr_corpus: the grammar gave only {} distinct pairs in {} attempts; ask for fewer than {}",
           pairs.size(), max_attempts, num_pairs);

  // Held-out combinations go to test. Of the rest, a sentence (in the order generated, the
  // classic pair first) that has a word, on either side, which no earlier one had stays in train;
  // a seeded 5% of the others goes to valid. So valid holds out sentences, never a word: a plain
  // seeded sample once put "where are you ?", then the only sentence with es-tu, in valid, and
  // the model never saw es-tu.
  LabelledCorpus corpus;
  std::vector<LabelledPair> rest;
  for (LabelledPair& pair : pairs) {
    const bool held_out = std::any_of(pair.combinations.begin(), pair.combinations.end(), is_held_out);
    (held_out ? corpus.test : rest).push_back(std::move(pair));
  }
  std::unordered_set<std::string> covered;  // "en:" or "fr:" + token
  std::vector<size_t> may_be_valid;
  for (size_t i = 0; i < rest.size(); ++i) {
    bool new_word = false;
    for (const std::string& w : tokenize(rest[i].pair.source)) new_word |= covered.insert("en:" + w).second;
    for (const std::string& w : tokenize(rest[i].pair.target)) new_word |= covered.insert("fr:" + w).second;
    if (!new_word) may_be_valid.push_back(i);
  }
  const std::vector<int64_t> order = builder.generator().permutation(static_cast<int64_t>(may_be_valid.size()));
  const size_t valid_count = std::min(may_be_valid.size(),
                                      static_cast<size_t>(kValidFraction * static_cast<double>(rest.size()) + 0.5));
  std::vector<bool> is_valid(rest.size(), false);
  for (size_t k = 0; k < valid_count; ++k) is_valid[may_be_valid[static_cast<size_t>(order[k])]] = true;
  for (size_t i = 0; i < rest.size(); ++i) (is_valid[i] ? corpus.valid : corpus.train).push_back(std::move(rest[i]));

  // Every word of test must occur in train (on its side), or BLEU would also measure words the
  // model never saw: a test sentence with a word that only held-out sentences have is dropped
  // (valid has none by construction; with the default 30,000 pairs test has none either, which
  // tests/test_corpus.cpp checks).
  std::unordered_set<std::string> english_words, french_words;
  for (const LabelledPair& p : corpus.train) {
    for (const std::string& w : tokenize(p.pair.source)) english_words.insert(w);
    for (const std::string& w : tokenize(p.pair.target)) french_words.insert(w);
  }
  auto unseen = [&](const LabelledPair& p) {
    for (const std::string& w : tokenize(p.pair.source))
      if (!english_words.count(w)) return true;
    for (const std::string& w : tokenize(p.pair.target))
      if (!french_words.count(w)) return true;
    return false;
  };
  const size_t before = corpus.valid.size() + corpus.test.size();
  std::erase_if(corpus.valid, unseen);
  std::erase_if(corpus.test, unseen);
  corpus.dropped_for_unseen_words = before - corpus.valid.size() - corpus.test.size();
  return corpus;
}

Corpus generate_en_fr_corpus(uint64_t seed, size_t num_pairs) {
  LabelledCorpus labelled = generate_en_fr_labelled(seed, num_pairs);
  Corpus corpus;
  auto strip = [](std::vector<LabelledPair>& from, std::vector<SentencePair>& to) {
    to.reserve(from.size());
    for (LabelledPair& p : from) to.push_back(std::move(p.pair));
  };
  strip(labelled.train, corpus.train);
  strip(labelled.valid, corpus.valid);
  strip(labelled.test, corpus.test);
  return corpus;
}

std::string corpus_description() {
  return fmt::format(
      "Bundled English->French corpus, generated from a grammar in examples/translator/corpus.cpp:\n"
      "  {} subjects (i, you, he, she, we, you all, they, my sister, the girls, ...), être and avoir,\n"
      "  {} present-tense -er verbs (nous mangeons, j'achète), {} professions and {} adjectives for people,\n"
      "  {} nouns with gender (food, animals, things, furniture, places), {} adjectives for things\n"
      "  (colours after the noun), {} prepositions, numbers and ages, avoir idioms (j'ai faim),\n"
      "  negation (ne ... pas, pas de), elision (j'aime, n'ai, l'arbre), contraction (du, au),\n"
      "  agreement in gender and number (étudiant/étudiante/étudiants/étudiantes), questions with\n"
      "  inversion (où es-tu ?, es-tu fatigué ?, a-t-elle faim ?).\n"
      "  Sentences have {} to {} tokens, lowercase, punctuation split off. The test split holds the\n"
      "  {} held-out combinations (subject+adjective, verb+object, ...) never seen in training.",
      std::size(kSubjects), std::size(kVerbs), std::size(kProfessions), std::size(kPersonAdjectives),
      std::size(kNouns), std::size(kThingAdjectives), std::size(kPrepositions), kMinTokens, kMaxTokens,
      held_out_combinations().size());
}

}  // namespace translator
