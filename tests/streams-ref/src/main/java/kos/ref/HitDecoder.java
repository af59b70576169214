package kos.ref;

/**
 * The original's binary hit format ("decode hexadecimal", the table in common/frame.h), byte for
 * byte the same rules as kos_hit_decode_hex in common/frame.c: hex digits in either case, exactly
 * one complete hit, no trailing bytes. Anything else is not a hit ({@link #decodeHex} returns null; the topology drops it).
 */
public final class HitDecoder {
    /** key, FF dir, impact + violence, FF key, level, game. */
    public static final int BIN_MAX = 9;

    private HitDecoder() {}

    private static String keyName(int b) {
        switch (b) {
            case 0xE3: return "X";
            case 0xC3: return "O";
            default: return null;
        }
    }

    private static String directionName(int b) {
        switch (b) {
            case 0x8A: return "UP";
            case 0x8C: return "DOWN";
            case 0x8D: return "LEFT";
            case 0x8E: return "RIGHT";
            default: return null;
        }
    }

    private static String impactTypeName(int b) {
        switch (b) {
            case 0x72: return "Fatal";
            case 0x4F: return "Critical";
            case 0xA2: return "Special";
            case 0xB1: return "Direct";
            case 0x1F: return "Missed";
            default: return null;
        }
    }

    private static String levelName(int b) {
        switch (b) {
            case 0xF9: return "Pro";
            case 0xE9: return "Inter";
            case 0xD9: return "NewBie";
            default: return null;
        }
    }

    private static String gameName(int b) {
        switch (b) {
            case 0xA5: return "Neowave";
            case 0xB5: return "NeoBlood";
            case 0xC5: return "HowlingBlood";
            case 0xD5: return "MaximumImpact";
            case 0xE5: return "HeatofBattleFromParadise";
            default: return null;
        }
    }

    private static int hexVal(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    /** Decodes one hit from hex digits; null if the string is not exactly one valid hit. */
    public static Hit decodeHex(String hex) {
        if (hex == null) return null;
        int len = hex.length();
        for (int i = 0; i < len; i++)
            if (hexVal(hex.charAt(i)) < 0) return null;
        if ((len & 1) != 0 || len / 2 > BIN_MAX) return null; // odd, or longer than any hit
        int n = len / 2;
        int[] b = new int[n];
        for (int i = 0; i < n; i++)
            b[i] = hexVal(hex.charAt(2 * i)) << 4 | hexVal(hex.charAt(2 * i + 1));
        return decode(b, n);
    }

    /** Decodes exactly one hit from the first n bytes (values 0..255) of b; null if invalid. */
    public static Hit decode(int[] b, int n) {
        int i = 0;
        if (i >= n) return null;
        String key = keyName(b[i++]);
        if (key == null) return null;

        if (i >= n) return null;
        String direction = null;
        int marker = b[i++];
        if (marker == 0xFF) {
            if (i >= n) return null;
            direction = directionName(b[i++]);
            if (direction == null) return null;
        } else if (marker != 0x00) {
            return null;
        }

        if (i >= n) return null;
        String impactType = impactTypeName(b[i++]);
        if (impactType == null) return null;
        int impact = 0;
        if (!impactType.equals("Missed")) {
            if (i >= n) return null;
            impact = b[i++];
        }

        if (i >= n) return null;
        String doubleKey = null;
        marker = b[i++];
        if (marker == 0xFF) {
            if (i >= n) return null;
            doubleKey = keyName(b[i++]);
            if (doubleKey == null) return null;
        } else if (marker != 0x00) {
            return null;
        }

        if (i >= n) return null;
        String level = levelName(b[i++]);
        if (level == null) return null;

        if (i >= n) return null;
        String game = gameName(b[i++]);
        if (game == null) return null;

        if (i != n) return null; // trailing bytes
        return new Hit(impact, key, doubleKey, direction, impactType, level, game);
    }
}
