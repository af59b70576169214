package kos.ref;

import java.util.ArrayList;
import java.util.List;

/** The value of SESSIONS: {"hits":[hit,...]}, appended to by the aggregate. */
public final class GameSession {
    public final List<Hit> hits;

    public GameSession() {
        this.hits = new ArrayList<>();
    }

    public GameSession(List<Hit> hits) {
        this.hits = new ArrayList<>(hits);
    }

    /** The aggregator: the session so far with one more hit. Mutates and returns this. */
    public GameSession append(Hit hit) {
        hits.add(hit);
        return this;
    }
}
