-- Wireshark dissector for HFTP, the Home-made File Transfer Protocol
-- (see HFTP.md). TCP port 19500; for another port use Decode As, or
-- tshark -d tcp.port==PORT,hftp.
--
--   wireshark -X lua_script:contrib/wireshark/hftp.lua capture.pcapng
--   or copy this file into ~/.local/lib/wireshark/plugins/
--
-- Requests and status lines are decoded with their meaning; listings,
-- sizes and help lines are shown. Slice bodies (base64 and raw) are only
-- marked and counted: a reply of gigabytes is never reassembled, each
-- segment shows how many of its bytes belong to the body and how many
-- remain.
--
-- Replies are matched to requests in order (HFTP answers one request at
-- a time, in order), per TCP stream. The matching is done on the first
-- pass over the capture; what each frame starts with is remembered, so
-- later passes (clicking a packet in Wireshark) decode it the same way.

local hftp = Proto("hftp", "Home-made File Transfer Protocol")

local STATUS = {
    [0] = "OK",
    [100] = "BAD EOL",
    [101] = "BAD REQUEST",
    [199] = "INTERNAL SERVER ERROR",
    [200] = "NO SUCH COMMAND",
    [201] = "INVALID ARGUMENTS FOR COMMAND",
    [202] = "FILE NOT FOUND",
    [203] = "OFFSET EXCEEDS FILE SIZE",
}

local MEANING = {
    [0] = "success",
    [100] = "fatal: a LF not preceded by CR; the server closes",
    [101] = "fatal: a byte outside 0x20-0x7E, a blank or too long line; the server closes",
    [199] = "fatal: the server failed, or may not read the file; the server closes",
    [200] = "refused: the first element is not a command",
    [201] = "refused: wrong number or form of arguments",
    [202] = "refused: no servable file of that name",
    [203] = "refused: OFFSET+SIZE is beyond the file",
}

local f = {
    request = ProtoField.string("hftp.request", "Request"),
    command = ProtoField.string("hftp.command", "Command"),
    filename = ProtoField.string("hftp.filename", "File name"),
    offset = ProtoField.uint64("hftp.offset", "Offset"),
    size = ProtoField.uint64("hftp.size", "Size"),
    raw = ProtoField.bool("hftp.raw", "Raw slice"),
    bad_eol = ProtoField.bool("hftp.bad_eol", "Bare LF (the server answers 100)"),
    fragment = ProtoField.uint32("hftp.request_fragment", "Bytes of a long request line"),
    status = ProtoField.uint16("hftp.status", "Status", base.DEC, STATUS),
    status_text = ProtoField.string("hftp.status_text", "Status text"),
    meaning = ProtoField.string("hftp.meaning", "Meaning"),
    fatal = ProtoField.bool("hftp.fatal", "Fatal (the server closes)"),
    answers = ProtoField.string("hftp.answers", "In answer to"),
    name = ProtoField.string("hftp.listing.name", "Listed file"),
    listing_end = ProtoField.bool("hftp.listing.end", "End of listing"),
    file_size = ProtoField.uint64("hftp.metadata.size", "File size"),
    help_command = ProtoField.string("hftp.help.command", "Command"),
    content_length = ProtoField.uint64("hftp.slice.content_length", "Content-Length"),
    base64_bytes = ProtoField.uint32("hftp.slice.base64_bytes", "Slice body (base64), bytes in this segment"),
    raw_bytes = ProtoField.uint32("hftp.slice.raw_bytes", "Slice body (raw), bytes in this segment"),
    remaining = ProtoField.uint64("hftp.slice.remaining", "Body bytes still to come"),
    body_end = ProtoField.bool("hftp.slice.end", "End of slice body"),
}
hftp.fields = {}
for _, field in pairs(f) do
    table.insert(hftp.fields, field)
end

local tcp_stream = Field.new("tcp.stream")

-- Per TCP stream: the requests seen, in order, and where the replies are.
local streams = {}
-- Per frame: the reply state it starts in (first pass), for later passes.
local starts = {}

local function stream_state(id)
    local state = streams[id]
    if not state then
        state = { requests = {}, next_reply = 1, reply = { mode = "status" }, client_line = 0 }
        streams[id] = state
    end
    return state
end

local function copy(t)
    local c = {}
    for k, v in pairs(t) do
        c[k] = v
    end
    return c
end

-- A decimal number as a UInt64; one too large for 64 bits (the server
-- answers 203) shows as the largest.
local function decimal(text)
    if #text > 20 then
        return UInt64.max()
    end
    local value = UInt64(0)
    for digit in text:gmatch("%d") do
        local next_value = value * 10 + tonumber(digit)
        if next_value < value then
            return UInt64.max()
        end
        value = next_value
    end
    return value
end

-- What a request line asks for: the body its OK reply carries.
local function classify(line)
    local words = {}
    for word in (line .. " "):gmatch("(.-) ") do
        table.insert(words, word)
    end
    local command = words[1] or ""
    local request = { line = line, command = command, body = "none", words = words }
    if command == "get_file_listing" and #words == 1 then
        request.body = "listing"
    elseif command == "get_metadata" and #words == 2 then
        request.body = "metadata"
    elseif command == "help" and #words == 1 then
        request.body = "help"
    elseif command == "get_slice" and (#words == 4 or (#words == 5 and words[5] == "raw")) then
        request.size = decimal(words[4])
        request.body = (#words == 5) and "raw" or "base64"
    end
    return request
end

local DESEGMENT = DESEGMENT_ONE_MORE_SEGMENT
-- A line is reassembled across segments only while it is short: a
-- longer one (a 5 MiB name) is shown in pieces.
local MAX_REASSEMBLED_LINE = 64 * 1024

local function find_lf(tvb, offset)
    local len = tvb:len()
    -- ByteArray search is not in the Lua API; a string of the rest is
    -- bounded by the segment's size.
    local rest = tvb:raw(offset, len - offset)
    local at = rest:find("\n", 1, true)
    if at then
        return offset + at - 1
    end
    return nil
end

local function dissect_requests(tvb, pinfo, tree, state)
    local offset = 0
    local len = tvb:len()
    local shown = {}
    while offset < len do
        local lf = find_lf(tvb, offset)
        if not lf then
            if len - offset < MAX_REASSEMBLED_LINE and state.client_line == 0 then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = DESEGMENT
                return
            end
            if not pinfo.visited then
                state.client_line = state.client_line + (len - offset)
            end
            tree:add(f.fragment, tvb(offset, len - offset), len - offset)
            table.insert(shown, "[request line continues]")
            break
        end
        local line_end = lf
        local bare = true
        if lf > offset and tvb(lf - 1, 1):uint() == 13 then
            line_end = lf - 1
            bare = false
        end
        local text = tvb:raw(offset, line_end - offset)
        local subtree = tree:add(f.request, tvb(offset, lf - offset + 1), text)
        local request = classify(text)
        if state.client_line > 0 then
            request = { line = text, command = "", body = "none", words = {} }
            subtree:add(f.fragment, tvb(offset, lf - offset + 1), lf - offset + 1)
        else
            subtree:add(f.command, tvb(offset, #request.command), request.command)
            local words = request.words
            if (request.command == "get_metadata" or request.command == "get_slice") and words[2] then
                subtree:add(f.filename, tvb(offset + #words[1] + 1, #words[2]), words[2])
            end
            if request.body == "base64" or request.body == "raw" then
                subtree:add(f.offset, decimal(words[3]))
                subtree:add(f.size, decimal(words[4]))
                subtree:add(f.raw, request.body == "raw")
            end
        end
        if bare then
            subtree:add(f.bad_eol, tvb(lf, 1), true)
            request.body = "none"
        end
        if not pinfo.visited then
            state.client_line = 0
            table.insert(state.requests, request)
        end
        table.insert(shown, text)
        offset = lf + 1
    end
    pinfo.cols.info:set("Request: " .. table.concat(shown, " | "))
end

-- The base64 length of `size` bytes: 4 characters per started group of 3.
local function base64_len(size)
    return ((size + 2) / 3) * 4
end

local function dissect_replies(tvb, pinfo, tree, state)
    local reply
    if pinfo.visited then
        local start = starts[pinfo.number]
        if not start then
            return
        end
        reply = copy(start.reply)
        state = { requests = state.requests, next_reply = start.next_reply }
    else
        starts[pinfo.number] = { reply = copy(state.reply), next_reply = state.next_reply }
        reply = state.reply
    end
    local offset = 0
    local len = tvb:len()
    local shown = {}
    local zero = UInt64(0)
    while offset < len do
        if reply.mode == "base64" or reply.mode == "raw" then
            -- Body bytes: counted, not reassembled.
            local remaining = reply.remaining
            local here = len - offset
            local take = (UInt64(here) < remaining) and here or remaining:tonumber()
            local field = (reply.mode == "base64") and f.base64_bytes or f.raw_bytes
            local item = tree:add(field, tvb(offset, take), take)
            reply.remaining = remaining - take
            item:add(f.remaining, reply.remaining)
            table.insert(shown, string.format("[%s body, %d bytes]", reply.mode, take))
            offset = offset + take
            if reply.remaining == zero then
                if reply.mode == "base64" then
                    reply.mode = "crlf"
                else
                    item:add(f.body_end, true)
                    reply.mode = "status"
                end
            end
        else
            local lf = find_lf(tvb, offset)
            if not lf then
                if not pinfo.visited and len - offset < MAX_REASSEMBLED_LINE then
                    pinfo.desegment_offset = offset
                    pinfo.desegment_len = DESEGMENT
                    -- The rest comes again with the next segment.
                end
                break
            end
            local line_end = (lf > offset and tvb(lf - 1, 1):uint() == 13) and lf - 1 or lf
            local text = tvb:raw(offset, line_end - offset)
            local range = tvb(offset, lf - offset + 1)
            if reply.mode == "status" then
                local request = state.requests[state.next_reply]
                state.next_reply = state.next_reply + 1
                local code, status_text = text:match("^(%d+) (.*)$")
                code = tonumber(code)
                local subtree = tree:add(hftp, range, "Status: " .. text)
                if code then
                    subtree:add(f.status, tvb(offset, #tostring(code)), code)
                    subtree:add(f.status_text, status_text)
                    subtree:add(f.meaning, MEANING[code] or "unknown status")
                    subtree:add(f.fatal, code >= 100 and code < 200)
                end
                if request then
                    subtree:add(f.answers, request.line)
                end
                table.insert(shown, text)
                reply.mode = "status"
                if code == 0 and request then
                    if request.body == "listing" then
                        reply.mode = "listing"
                    elseif request.body == "metadata" then
                        reply.mode = "metadata"
                    elseif request.body == "help" then
                        reply.mode = "help"
                    elseif request.body == "base64" then
                        reply.remaining = base64_len(request.size)
                        reply.mode = (reply.remaining == zero) and "crlf" or "base64"
                    elseif request.body == "raw" then
                        reply.mode = "raw_header"
                        reply.size = request.size
                    end
                end
            elseif reply.mode == "listing" then
                if text == "" then
                    tree:add(f.listing_end, range, true)
                    reply.mode = "status"
                else
                    tree:add(f.name, range, text)
                    table.insert(shown, text)
                end
            elseif reply.mode == "help" then
                if text == "" then
                    reply.mode = "status"
                else
                    tree:add(f.help_command, range, text)
                end
            elseif reply.mode == "metadata" then
                tree:add(f.file_size, range, decimal(text))
                table.insert(shown, "size " .. text)
                reply.mode = "status"
            elseif reply.mode == "crlf" then
                tree:add(f.body_end, range, true)
                reply.mode = "status"
            elseif reply.mode == "raw_header" then
                local length = text:match("^Content%-Length: (%d+)$")
                if length then
                    tree:add(f.content_length, range, decimal(length))
                end
                reply.mode = "raw_blank"
            elseif reply.mode == "raw_blank" then
                reply.remaining = reply.size
                reply.mode = (reply.size == zero) and "status" or "raw"
            end
            offset = lf + 1
        end
    end
    pinfo.cols.info:set("Reply: " .. table.concat(shown, " | "))
end

function hftp.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "HFTP"
    local id = tostring(tcp_stream())
    local state = stream_state(id)
    local subtree = tree:add(hftp, tvb(), "HFTP")
    if pinfo.dst_port == pinfo.match_uint then
        dissect_requests(tvb, pinfo, subtree, state)
    else
        dissect_replies(tvb, pinfo, subtree, state)
    end
end

function hftp.init()
    streams = {}
    starts = {}
end

DissectorTable.get("tcp.port"):add(19500, hftp)
