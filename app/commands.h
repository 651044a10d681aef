/* commands.h — the subcommands of the `ivl` tool; each lives in its own cmd-*.c. */
#ifndef IVL_COMMANDS_H
#define IVL_COMMANDS_H

/* Each returns the process exit status: 0 on success, 1 on failure, 2 on bad usage. */
typedef int (*ivl_command_fn)(int argc, char **argv);

typedef struct {
  const char *name;
  ivl_command_fn run;
  const char *summary;
} ivl_command;

/* --- model files (issue 2) --- */
int ivl_cmd_info(int argc, char **argv);
int ivl_cmd_make_tiny_model(int argc, char **argv);

/* --- text (issue 3) --- */
int ivl_cmd_tokenize(int argc, char **argv);
int ivl_cmd_prompt(int argc, char **argv);

/* --- media (issue 4) --- */
int ivl_cmd_preprocess(int argc, char **argv);
int ivl_cmd_frames(int argc, char **argv);

/* --- generation (issue 5) --- */
int ivl_cmd_run(int argc, char **argv);
int ivl_cmd_chat(int argc, char **argv);
int ivl_cmd_batch(int argc, char **argv);
int ivl_cmd_demo(int argc, char **argv);
int ivl_cmd_bench(int argc, char **argv);

/* --- downloads (issue 7) --- */
int ivl_cmd_download(int argc, char **argv);
int ivl_cmd_models(int argc, char **argv);

/* --- serving the OpenAI chat API --- */
int ivl_cmd_serve(int argc, char **argv);

#endif
