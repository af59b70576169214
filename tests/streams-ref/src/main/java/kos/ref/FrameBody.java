package kos.ref;

import java.util.List;

/** The value of GAME-FRAME-RQ / GAME-FRAME-RS: {"approval":false,"bytes":["e3001f00d9b5",...]}. */
public final class FrameBody {
    /** null when the JSON has "approval":null (the original's field was a nullable boolean). */
    public final Boolean approval;
    /** The hex strings, undecoded, in order. */
    public final List<String> bytes;

    public FrameBody(Boolean approval, List<String> bytes) {
        this.approval = approval;
        this.bytes = List.copyOf(bytes);
    }
}
