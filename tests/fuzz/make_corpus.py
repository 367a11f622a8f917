#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (committed files;
re-run only to regenerate them: python3 tests/fuzz/make_corpus.py).
gzip seeds use a fixed mtime so the bytes are reproducible."""
import gzip, io, json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def gz(data, level=6):
    b = io.BytesIO()
    with gzip.GzipFile(fileobj=b, mode="wb", mtime=0, compresslevel=level) as f:
        f.write(data)
    return b.getvalue()


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


OPENAI = ('{"custom_id":"req-1","method":"POST","url":"/v1/chat/completions",'
          '"body":{"model":"gpt-4o-mini","messages":[{"role":"system","content":'
          '"You are terse."},{"role":"user","content":"Say hi"}],"max_tokens":32}}')
OPENAI_IMG = ('{"custom_id":"img-2","method":"POST","url":"/v1/chat/completions",'
              '"body":{"model":"gpt-4o","n":2,"max_completion_tokens":100,"messages":'
              '[{"role":"user","content":[{"type":"text","text":"What is this?"},'
              '{"type":"image_url","image_url":{"url":"https://e.x/a.png"}}]}],'
              '"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}}')
OPENAI_EMB = ('{"custom_id":"e1","method":"POST","url":"/v1/embeddings",'
              '"body":{"model":"text-embedding-3-small","input":["a","b"]}}')
OPENAI_RESP = ('{"custom_id":"r1","method":"POST","url":"v1/responses",'
               '"body":{"model":"gpt-4.1","input":"hello","max_output_tokens":50,'
               '"temperature":0.7}}')
OPENAI_COMPL = ('{"custom_id":"c1","method":"POST","url":"/completions",'
                '"body":{"model":"gpt-3.5-turbo-instruct","prompt":"x","max_tokens":5}}')
ANTHROPIC = ('{"custom_id":"my-first-request","params":{"model":"claude-3-5-haiku-latest",'
             '"max_tokens":1024,"system":"Be brief.","messages":[{"role":"user",'
             '"content":"Hello, world"}]}}')
ANTHROPIC_DOC = ('{"custom_id":"doc","params":{"model":"claude-sonnet-4-5","max_tokens":64,'
                 '"messages":[{"role":"user","content":[{"type":"document","source":'
                 '{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},'
                 '{"type":"text","text":"Summarise \\u00e9\\ud83d\\ude00"}]}]}}')
BARE = '{"messages":[{"role":"user","content":"What is 2+2?"}]}'
BARE_CLAUDE = '{"model":"claude-3-5-haiku-latest","messages":[{"role":"user","content":"hi"}]}'
PROMPT = '{"prompt":"Write a haiku about batches."}'
REAL = '{"model":"gpt-4o-mini","temperature":1.0000000000000002,"top_p":0.1,"messages":[{"role":"user","content":"x"}],"max_tokens":1e2}'

job = {
    "openai_chat": OPENAI, "openai_image_tools": OPENAI_IMG,
    "openai_embeddings": OPENAI_EMB, "openai_responses": OPENAI_RESP,
    "openai_completions": OPENAI_COMPL, "anthropic": ANTHROPIC,
    "anthropic_document": ANTHROPIC_DOC, "bare_chat": BARE,
    "bare_claude": BARE_CLAUDE, "bare_prompt": PROMPT, "bare_reals": REAL,
    "bad_url": OPENAI.replace("/v1/chat/completions", "/v1/images"),
    "bad_method": OPENAI.replace('"POST"', '"GET"'),
    "empty_id": OPENAI.replace('"req-1"', '""'),
    "ctrl_id": OPENAI.replace('"req-1"', '"a\\nb"'),
    "truncated": OPENAI[:70],
    "not_object": '["custom_id","x"]',
    "dup_keys": '{"custom_id":"a","custom_id":"b","params":{"model":"claude-x","max_tokens":1,"messages":[]}}',
    "neg_max": '{"model":"gpt-4o","messages":[],"max_tokens":-1}',
    "n_zero": '{"model":"gpt-4o","messages":[],"n":0}',
}
for k, v in job.items():
    write("fuzz_job", k, v)

lines = "\n".join([OPENAI, ANTHROPIC, "", BARE, PROMPT]) + "\n"
reader = {
    "plain": lines,
    "plain_crlf_no_final_nl": lines.replace("\n", "\r\n").rstrip("\r\n"),
    "blank_lines": "\n\n\r\n\n",
    "nul_bytes": b"{\"a\":1}\n\x00\x00\n\x00x\r\n",
    "gz_single": gz(lines.encode()),
    "gz_multi_member": gz(OPENAI.encode() + b"\n") + gz(ANTHROPIC.encode() + b"\n") + gz(b""),
    "gz_truncated": gz(lines.encode())[:-9],
    "gz_trailing_garbage": gz(b"x\n") + b"\x00junk",
    "gz_member_split_mid_line": gz(b'{"prompt":"sp') + gz(b'lit"}\nlast'),
    "gz_stored": gz(b"a\nb\nc", level=0),
    "gz_bad_crc": (lambda z: z[:-8] + struct.pack("<I", 0xdeadbeef) + z[-4:])(gz(b"abc\n")),
    "gz_magic_only": b"\x1f\x8b",
}
for k, v in reader.items():
    write("fuzz_reader", k, v)


def resp(status, headers, body):
    h = "".join("%s: %s\r\n" % kv for kv in headers)
    return struct.pack(">H", status) + (h + "\r\n").encode() + body.encode()


CHAT_OK = ('{"id":"chatcmpl-abc","object":"chat.completion","created":1732590000,'
           '"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":'
           '"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":'
           '1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":'
           '{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":256}}}')
RESP_OK = ('{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":500,'
           '"input_tokens_details":{"cached_tokens":100},"output_tokens":20,'
           '"output_tokens_details":{"reasoning_tokens":0},"total_tokens":520}}')
EMB_OK = '{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}'
MSG_OK = ('{"id":"msg_01","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",'
          '"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":'
          '{"input_tokens":50,"cache_creation_input_tokens":2000,"cache_read_input_tokens":300,'
          '"output_tokens":12}}')
RL_429 = ('{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on '
          'tokens per min (TPM): Limit 200000, Used 199000.","type":"tokens",'
          '"param":null,"code":"rate_limit_exceeded"}}')
QUOTA = ('{"error":{"message":"You exceeded your current quota, please check your plan and '
         'billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}')
KEY = ('{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz1234. '
       'You can find your API key at https://platform.openai.com/account/api-keys.",'
       '"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}')
ANT_OVER = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
ANT_CREDIT = ('{"type":"error","error":{"type":"invalid_request_error","message":'
              '"Your credit balance is too low to access the Anthropic API."}}')
response = {
    "openai_chat_ok": resp(200, [("x-request-id", "req_123"), ("content-type", "application/json")], CHAT_OK),
    "openai_responses_ok": resp(200, [], RESP_OK),
    "openai_embeddings_ok": resp(200, [("request-id", "r")], EMB_OK),
    "anthropic_ok": resp(200, [("request-id", "req_011"), ("anthropic-ratelimit-requests-remaining", "49")], MSG_OK),
    "truncated_200": resp(200, [], CHAT_OK[:90]),
    "rate_limit_429": resp(429, [("retry-after-ms", "1250.5"), ("retry-after", "2"),
                                 ("x-ratelimit-reset-tokens", "4m12.172s")], RL_429),
    "quota_429": resp(429, [("x-should-retry", "false")], QUOTA),
    "bad_key_401": resp(401, [], KEY),
    "overloaded_529": resp(529, [("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"), ("x-should-retry", "true")], ANT_OVER),
    "credit_400": resp(400, [], ANT_CREDIT),
    "html_502": resp(502, [("retry-after", "Sunday, 06-Nov-94 08:49:37 GMT")],
                     "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>"),
    "asctime_503": resp(503, [("retry-after", "Sun Nov  6 08:49:37 1994"), ("retry-after-ms", "x")], ""),
    "future_date_503": resp(503, [("retry-after", "Thu, 26 Nov 2026 05:00:12 GMT")], "{}"),
    "status0": resp(0, [], ""),
    "string_error_404": resp(404, [], '{"error":"Not Found sk-abcdefghijklmnopqrstuv"}'),
    "int_code_422": resp(422, [], '{"error":{"code":1234567890123,"message":"bad\\nline"}}'),
}
for k, v in response.items():
    write("fuzz_response", k, v)

rl = {
    "openai_durations": "6m0s\n4m12.172s\n1h2m3s\n0.5s\n250us\n20ms\n1s\n0\n",
    "openai_headers": ("x-ratelimit-limit-requests: 10000\nx-ratelimit-remaining-requests: 9999\n"
                       "x-ratelimit-reset-requests: 6ms\nx-ratelimit-limit-tokens: 200000\n"
                       "x-ratelimit-remaining-tokens: 199000\nx-ratelimit-reset-tokens: 300ms\n"),
    "anthropic_headers": ("anthropic-ratelimit-requests-limit: 50\nanthropic-ratelimit-requests-remaining: 49\n"
                          "anthropic-ratelimit-requests-reset: 2026-11-26T05:00:12Z\n"
                          "anthropic-ratelimit-input-tokens-limit: 50000\n"
                          "anthropic-ratelimit-output-tokens-limit: 10000\n"
                          "anthropic-ratelimit-output-tokens-reset: 2026-11-26T05:00:12.5+01:00\n"),
    "rfc3339": "2026-11-26T05:00:12Z\n2026-11-26t05:00:12.123456789-08:30\n1970-01-01 00:00:00Z\n2024-02-29T23:59:60Z\n9999-12-31T23:59:59.999Z\n",
    "http_dates": "Wed, 21 Oct 2015 07:28:00 GMT\nSunday, 06-Nov-94 08:49:37 GMT\nSun Nov  6 08:49:37 1994\n",
    "micro_signs": "1\xc2\xb5s\n2\xce\xbcs\n3ns\n+5m\n.5s\n1.s\n",
    "overflow": "99999999999999999999h\n18446744073709551615ns\n9223372036854775807ms\n2562047h47m16.854775807s\n",
    "retry": "10\n2.5\n",
}
for k, v in rl.items():
    write("fuzz_ratelimit_hdr", k, v)

src = os.path.join(ROOT, "samples", "prices.json")
with open(src, "rb") as f:
    full = f.read()
prices = {
    "samples_prices.json": full,
    "broken_truncated.json": full[:len(full) // 2],
    "minimal.json": '{"models":{"m":{"input":1,"output":2}}}',
    "prefix.json": ('{"updated":"2026-01-01","source":"t","models":{"gpt":{"input":1e-6,"output":1e6,'
                    '"max_output_tokens":1},"gpt-4o":{"input":0,"output":0,"cache_write":3.75,'
                    '"cached_input":0.3,"part_tokens":9223372036854775807}}}'),
    "unknown_field.json": '{"models":{"m":{"input":1,"output":2,"ouptut":3}}}',
    "negative.json": '{"models":{"m":{"input":-1,"output":2}}}',
    "empty_name.json": '{"models":{"":{"input":1,"output":2}}}',
    "dup_model.json": '{"models":{"m":{"input":1,"output":2},"m":{"input":1,"output":2}}}',
    "huge_price.json": '{"models":{"m":{"input":1e300,"output":9.2e6}}}',
    "not_object.json": '[1,2,3]',
}
for k, v in prices.items():
    write("fuzz_prices", k, v)


def res(flags, cid, rid, code, msg, body):
    return bytes([flags]) + b"\0".join(x.encode() if isinstance(x, str) else x
                                       for x in (cid, rid, code, msg, body))


results = {
    "success": res(0x00, "req-1", "req_abc", "", "", CHAT_OK),
    "success_cached": res(0x01, "line-3", "", "", "", MSG_OK),
    "error_raw_html": res(0x90, "x", "rid", "http_502", "HTTP 502", "<html>\nbad\n</html>"),
    "error_no_response": res(0x0e, "id\twith\ttabs", "", "", "", ""),
    "error_json": res(0x70, "\u00e9\u2028", "r", "rate_limit_exceeded", "slow down", RL_429),
    "reals": res(0x00, "f", "r", "", "", '{"a":0.1,"b":1e-300,"c":[1.5,2.0000000000000004,-0.0]}'),
    "invalid_utf8": res(0x20, b"\xff\xfe\xc3", b"\x80", b"c", b"\xed\xa0\x80", b"\xc3\x28 raw"),
    "scalar": res(0x00, "s", "r", "", "", "\"just a string\""),
}
for k, v in results.items():
    write("fuzz_results", k, v)

total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
print("corpus bytes:", total)

redis_urls = {
    "plain": "redis://127.0.0.1:6379/0",
    "userinfo": "redis://alice:s3cr%40t@cache.internal:6380/2",
    "ipv6": "redis://:pw@[::1]:6390/1",
    "unix": "unix:///run/redis/redis.sock?db=3",
    "tls": "rediss://u:topsecret@h:6380/0",
    "garbage": "redis://u:p@ss@h o:99999/x",
}
for k, v in redis_urls.items():
    write("fuzz_redis_url", k, v)
