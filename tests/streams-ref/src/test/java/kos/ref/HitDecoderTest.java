package kos.ref;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class HitDecoderTest {
    private static String json(Hit h) {
        return new String(Json.writeSession(new GameSession(List.of(h))), StandardCharsets.UTF_8);
    }

    @Test
    void seedVectors() {
        assertEquals(new Hit(0, "X", null, null, "Missed", "NewBie", "NeoBlood"), HitDecoder.decodeHex("e3001f00d9b5"));
        assertEquals(new Hit(20, "O", "O", "LEFT", "Critical", "NewBie", "NeoBlood"), HitDecoder.decodeHex("c3ff8d4f14ffc3d9b5"));
        assertEquals(new Hit(48, "O", null, "UP", "Direct", "Inter", "HowlingBlood"), HitDecoder.decodeHex("c3ff8ab13000e9c5"));
    }

    @Test
    void eitherCase() {
        assertEquals(HitDecoder.decodeHex("c3ff8d4f14ffc3d9b5"), HitDecoder.decodeHex("C3FF8D4F14FFC3D9B5"));
        assertEquals(HitDecoder.decodeHex("c3ff8d4f14ffc3d9b5"), HitDecoder.decodeHex("C3ff8D4f14fFc3D9b5"));
    }

    @Test
    void sessionJsonIsWhatTheCSideWrites() {
        // common/frame.c put_hit: impact, key, doubleKey, direction, impactType, level, game; null when absent.
        assertEquals("{\"hits\":[{\"impact\":20,\"key\":\"O\",\"doubleKey\":\"O\",\"direction\":\"LEFT\","
                + "\"impactType\":\"Critical\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}]}",
                json(HitDecoder.decodeHex("c3ff8d4f14ffc3d9b5")));
        assertEquals("{\"hits\":[{\"impact\":0,\"key\":\"X\",\"doubleKey\":null,\"direction\":null,"
                + "\"impactType\":\"Missed\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}]}",
                json(HitDecoder.decodeHex("e3001f00d9b5")));
        assertEquals("{\"hits\":[]}", new String(Json.writeSession(new GameSession()), StandardCharsets.UTF_8));
    }

    @Test
    void notHits() {
        String[] bad = {
            "",                     // truncated: empty
            "e3",                   // truncated after key
            "e300",                 // truncated before impact
            "e3001f",               // truncated before doubleKey
            "e3001f00",             // truncated before level
            "e3001f00d9",           // truncated before game
            "c3ff",                 // truncated inside direction
            "c3ff8ab1",             // truncated before violence
            "e3001f00d9b500",       // trailing byte
            "e3001f00d9b5e3001f00d9b5", // two hits in one string
            "e3001f00d9b",          // odd number of digits
            "e3001f00d9bg",         // not hex
            " e3001f00d9b5",        // not hex (space)
            "0x e3001f00d9b5",
            "a3001f00d9b5",         // unknown key
            "e3011f00d9b5",         // option marker not 00/FF (direction)
            "e3ff8b1f00d9b5",       // unknown direction
            "e3001e00d9b5",         // unknown impact discriminator
            "e3001f01d9b5",         // option marker not 00/FF (doubleKey)
            "e3001fffe4d9b5",       // unknown doubleKey
            "e3001f00d8b5",         // unknown level
            "e3001f00d9b6",         // unknown game
            "\u00e9e3001f00d9b5",   // non-ASCII
        };
        for (String s : bad) assertNull(HitDecoder.decodeHex(s), "'" + s + "' decoded");
        assertNull(HitDecoder.decodeHex(null));
        assertNull(HitDecoder.decodeHex("e3001f00d9b5".repeat(1000)));
    }

    // ---- exhaustive round trip against an encoder written from the format in common/frame.h --

    private static final String[] KEYS = {"X", "O"};
    private static final int[] KEY_CODES = {0xE3, 0xC3};
    private static final String[] DIRS = {null, "UP", "DOWN", "LEFT", "RIGHT"};
    private static final int[] DIR_CODES = {0, 0x8A, 0x8C, 0x8D, 0x8E};
    private static final String[] IMPACTS = {"Fatal", "Critical", "Special", "Direct", "Missed"};
    private static final int[] IMPACT_CODES = {0x72, 0x4F, 0xA2, 0xB1, 0x1F};
    private static final String[] LEVELS = {"Pro", "Inter", "NewBie"};
    private static final int[] LEVEL_CODES = {0xF9, 0xE9, 0xD9};
    private static final String[] GAMES = {"Neowave", "NeoBlood", "HowlingBlood", "MaximumImpact", "HeatofBattleFromParadise"};
    private static final int[] GAME_CODES = {0xA5, 0xB5, 0xC5, 0xD5, 0xE5};

    private static void hex(StringBuilder sb, int b) {
        sb.append(Character.forDigit(b >> 4, 16)).append(Character.forDigit(b & 15, 16));
    }

    @Test
    void everyHitRoundTrips() {
        int n = 0;
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < 2; k++)
            for (int d = 0; d < 5; d++)
                for (int t = 0; t < 5; t++)
                    for (int v = 0; v < (t == 4 ? 1 : 256); v++)
                        for (int dk = -1; dk < 2; dk++)
                            for (int l = 0; l < 3; l++)
                                for (int g = 0; g < 5; g++) {
                                    sb.setLength(0);
                                    hex(sb, KEY_CODES[k]);
                                    if (d == 0) hex(sb, 0); else { hex(sb, 0xFF); hex(sb, DIR_CODES[d]); }
                                    hex(sb, IMPACT_CODES[t]);
                                    if (t != 4) hex(sb, v);
                                    if (dk < 0) hex(sb, 0); else { hex(sb, 0xFF); hex(sb, KEY_CODES[dk]); }
                                    hex(sb, LEVEL_CODES[l]);
                                    hex(sb, GAME_CODES[g]);
                                    Hit want = new Hit(v, KEYS[k], dk < 0 ? null : KEYS[dk], DIRS[d], IMPACTS[t], LEVELS[l], GAMES[g]);
                                    String s = sb.toString();
                                    assertEquals(want, HitDecoder.decodeHex(s), s);
                                    assertNull(HitDecoder.decodeHex(s + "00"), s + "00");
                                    assertNull(HitDecoder.decodeHex(s.substring(0, s.length() - 2)), s + " minus one byte");
                                    n++;
                                }
        assertEquals(2 * 5 * (4 * 256 + 1) * 3 * 3 * 5, n);
    }
}
