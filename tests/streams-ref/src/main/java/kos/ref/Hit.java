package kos.ref;

import java.util.Objects;

/**
 * One decoded hit, with the JSON names the C side writes (common/frame.c): {@code doubleKey} and
 * {@code direction} are {@code null} when absent, {@code impact} is 0 for Missed.
 */
public final class Hit {
    public final int impact;
    public final String key;
    public final String doubleKey;
    public final String direction;
    public final String impactType;
    public final String level;
    public final String game;

    public Hit(int impact, String key, String doubleKey, String direction, String impactType, String level,
               String game) {
        this.impact = impact;
        this.key = key;
        this.doubleKey = doubleKey;
        this.direction = direction;
        this.impactType = impactType;
        this.level = level;
        this.game = game;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) return true;
        if (!(o instanceof Hit)) return false;
        Hit h = (Hit) o;
        return impact == h.impact && Objects.equals(key, h.key) && Objects.equals(doubleKey, h.doubleKey)
                && Objects.equals(direction, h.direction) && Objects.equals(impactType, h.impactType)
                && Objects.equals(level, h.level) && Objects.equals(game, h.game);
    }

    @Override
    public int hashCode() {
        return Objects.hash(impact, key, doubleKey, direction, impactType, level, game);
    }

    @Override
    public String toString() {
        return Json.hitToString(this);
    }
}
