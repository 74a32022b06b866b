-- The seed database every session starts from (copied, so a session's writes stay its own).
CREATE TABLE cities (name TEXT PRIMARY KEY, country TEXT NOT NULL, population INTEGER NOT NULL);
INSERT INTO cities VALUES
    ('Berlin', 'DE', 3755251), ('Hamburg', 'DE', 1892122), ('Paris', 'FR', 2102650),
    ('Lyon', 'FR', 522250), ('Vienna', 'AT', 1982097), ('Zurich', 'CH', 421878);
